# The two commands: `make demo` runs the demo service, `make test` runs the whole suite.
# Both create .venv and install the library (editable, with its extras) and the demo's and the
# tests' dependency groups into it on first use (or when pyproject changes). The demo runs
# from the checkout: it is not part of the library's wheel.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[jwks,redis,fastapi]' --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m demo_app

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The over-the-wire rows (bench/wire.py) drive the servers with wrk.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/compare.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site tests/oidc/node_modules
