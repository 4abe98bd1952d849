# The two commands: `make demo` runs the demo service, `make test` runs the whole suite.
# Every environment is installed from uv.lock (`uv sync --locked`), so a fresh clone gets the
# exact versions the code was last checked with; pyproject.toml keeps the library's own
# requirements as ranges. uv itself is pinned and installed with pip into .tools/ on first
# use. `make demo` installs the library and the demo group only, into its own .venv-demo;
# `make test`, `lint` and `docs` use .venv with the whole dev group. `make test-latest`
# installs the newest releases the ranges allow into .venv-latest and runs the suite there,
# so a break from a new release is seen on purpose; it is not part of .ci/run.
PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
DEMO_VENV  := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
EXTRAS     := --extra jwks --extra redis --extra fastapi --extra testing --extra otel

# uv uses the machine's Python and never downloads one.
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: demo test test-latest lint docs bench fleet lock clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --quiet --locked $(EXTRAS)
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(DEMO_VENV) $(UV) sync --quiet --locked $(EXTRAS) \
		--no-default-groups --group demo
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/python -m demo_app

test: $(STAMP)
	$(PY) -m pytest

test-latest: $(UV)
	rm -rf .venv-latest
	$(UV) venv --quiet .venv-latest
	$(UV) pip install --quiet --python .venv-latest/bin/python --upgrade \
		-e '.[jwks,redis,fastapi,testing,otel]' --group dev
	.venv-latest/bin/python -m pip list 2>/dev/null || $(UV) pip list --python .venv-latest/bin/python
	.venv-latest/bin/python -m pytest

# After editing the requirements in pyproject.toml: re-resolve uv.lock (commit it).
lock: $(UV)
	$(UV) lock

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

# N = 1, 3 and 10 instances in one process on the Redis of REDIS_URL (127.0.0.1:6379 by
# default), one fake provider, Zipf traffic; the table docs/deploying.md quotes. Under a
# minute; not part of .ci/run (tests/bench/test_fleet.py runs it small there).
fleet: $(STAMP)
	$(PY) bench/fleet.py

clean:
	rm -rf $(TOOLS) $(VENV) $(DEMO_VENV) .venv-latest .pytest_cache .mypy_cache .ruff_cache \
		site tests/oidc/node_modules
