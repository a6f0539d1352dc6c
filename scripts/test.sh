#!/usr/bin/env bash
# Lint, type-check, then every test tier.  Benchmarks are separate (scripts/bench.sh).
# Every step runs even after a failure, so one run shows everything; the exit
# status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
step() {
  local name="$1"; shift
  echo "== $name"
  local t0=$SECONDS
  "$@"
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - t0))s"
  ((rc == 0)) || failed+=("$name")
}
step "ruff check" python3 -m ruff check .
step "ruff format" python3 -m ruff format --check .
step "mypy (strict, product code)" python3 -m mypy
for tier in unit cluster browser e2e; do
  if find "tests/$tier" -name 'test_*.py' | grep -q .; then
    step "pytest tests/$tier" python3 -m pytest "tests/$tier" -p no:cacheprovider
  fi
done
# kind e2e: runs on machines with a Docker engine; elsewhere it prints why it is skipped.
step "kind e2e" scripts/kind-e2e.sh
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
