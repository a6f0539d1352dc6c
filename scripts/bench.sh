#!/usr/bin/env bash
# Run every benchmark script; each prints its figures and writes tests/bench/results/<name>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p tests/bench/results
for b in tests/bench/bench_*.py; do
  [[ -e "$b" ]] || continue
  echo "== $b"; python3 "$b"
done
