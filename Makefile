PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

# An older interpreter is refused before it makes a venv that pip will not install into; a
# venv that could not be made (Debian's python3 without python3-venv) is removed, so the
# next make makes it again.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(None if sys.version_info >= (3, 11) else "$(PYTHON) is Python %d.%d; 3.11+ is needed: make $(or $(MAKECMDGOALS),run) PYTHON=python3.11" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q aggregator migrations > /dev/null
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

# Bytecode first: pip compiles an installed package (reader's) at install, an editable one
# (ours) is compiled at every start where PYTHONDONTWRITEBYTECODE is set, which costs each
# process ≈ 3.7 MiB of peak RSS and its start-up time, and would measure our compiler, not
# our refresh. compileall writes only what is missing or stale.
bench: $(BENCH_STAMP)
	$(BIN)/python -m compileall -q aggregator bench migrations > /dev/null
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

# The venv, caches and the published files, which publish writes again; never the database:
# it holds every item ever read, which no feed sends again.
clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache feeds/*.xml feeds/*.opml feeds/*.html
