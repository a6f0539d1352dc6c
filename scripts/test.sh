#!/usr/bin/env bash
# Lint, type-check, then every test tier.  Benchmarks are separate (scripts/bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"; python3 -m ruff check .
python3 -m ruff format --check .
echo "== mypy (strict, product code)"; python3 -m mypy
status=0
for tier in unit cluster browser e2e; do
  if find "tests/$tier" -name 'test_*.py' | grep -q .; then
    echo "== pytest tests/$tier"
    python3 -m pytest "tests/$tier" -p no:cacheprovider || status=$?
  fi
done
# The chart on kind with real images (machines with Docker; elsewhere it prints why it skips).
echo "== kind e2e"; scripts/kind-e2e.sh || status=$?
exit "$status"
