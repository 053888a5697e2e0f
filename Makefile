# tipline: two commands.
#   make run   - set up .venv, migrate, load the demo world on first start, serve on http://127.0.0.1:8000
#   make test  - set up what the tests need (Debian's chromium, axe-core from npm) and run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install native lint format bench chromium axe clean

$(STAMP): pyproject.toml
	@bash scripts/ensure-ffmpeg-dev.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# the extractor's hot modules compiled with mypyc (speed only; without a C compiler the pure Python
# modules run, with the same results): rebuilt when a source of tipline.extract changed
native: $(STAMP)
	@$(PY) scripts/build_native.py build || echo "make: going on with the pure Python extractor"

run: $(STAMP) native
	$(VENV)/bin/tipline serve --demo --host $(HOST) --port $(PORT)

chromium:
	@bash scripts/ensure-chromium.sh

# axe-core (pinned in tests/axe/package-lock.json) for the accessibility test of every page
axe:
	@bash scripts/ensure-axe.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

test: $(STAMP) chromium axe lint native
	$(PY) -m pytest

bench: $(STAMP) native
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) tipline-data .pytest_cache src/tipline/extract/_native
