PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/aggregator migrate
	$(BIN)/aggregator update || true
	$(BIN)/aggregator run

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The bench extra (lemon24/reader to compare against, psutil) goes into the venv only
# here, never into the product's dependencies. QUICK=1: 200 feeds, 5,000 items, 2 runs.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) feeds/*.xml feeds/*.opml feeds/*.html aggregator.db*
