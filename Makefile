# Every target creates .venv and installs what it needs, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-stamp
EXTRAS ?= dev

.PHONY: demo test lint format bench dev clean install wordnet

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Non-editable install: tests and demo run against the built package, so a data file missing from the
# wheel fails here rather than on a user's machine.
install: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps --force-reinstall .

dev: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps -e .

demo: install
	$(BIN)/flexaqa demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks tools
	$(BIN)/ruff check --fix src tests benchmarks tools

# METEOR (VideoQA) needs WordNet 3.0: install Debian's packages when we can (root with apt), then build nltk's
# corpus folder. Elsewhere see docs/videoqa.md; the METEOR tests then fail with a message naming the fix.
wordnet: install
	@if [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null; fi
	-$(BIN)/flexaqa vqa setup-wordnet

test: install wordnet lint
	$(BIN)/python -m pytest -q -n 2

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
