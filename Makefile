# mcpod's entry point.  `make run` and `make test` are the two README commands.
SHELL := /bin/bash
PY ?= python3

.PHONY: run test setup setup-test lint unit cluster browser e2e bench dev-cluster-up dev-cluster-down

run:            ## install what the product needs and start it on its embedded default
	scripts/setup.sh run
	scripts/run.sh

test:           ## install everything the tests need, then lint and run every test tier
	scripts/setup.sh test
	scripts/test.sh

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

unit:
	$(PY) -m pytest tests/unit
cluster:
	$(PY) -m pytest tests/cluster
browser:
	$(PY) -m pytest tests/browser
e2e:
	$(PY) -m pytest tests/e2e

bench:          ## benchmarks: print figures and write tests/bench/results/
	scripts/bench.sh

dev-cluster-up:
	mcpod-dev-cluster up
dev-cluster-down:
	mcpod-dev-cluster down
