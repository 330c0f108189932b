# Two commands on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv demo test test-unit test-scenarios mutate bench scenario-observability scenario-reliability lint typecheck clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: venv
	$(PY) -m app demo

test: venv
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest tests/unit

# Mutation testing: every operator of the catalog deployed as a bug on a local cloud and
# judged by the experiments (reports/mutate-<run-id>/); a missed mutant fails. `make test`
# runs the fast subset (tests/local/test_mutate.py). ARGS=... adds flags (e.g. --all).
mutate: venv
	$(PY) -m app mutate --stack local $(ARGS)

bench: venv
	$(PY) -m pytest benchmarks --benchmark-only -p no:cacheprovider -s

# The seed scenarios at a tiny scale, each run by its command in its own process (own cloud).
test-scenarios: venv
	FAILMODES_SCENARIO_TESTS=1 $(PY) -m pytest tests/local/test_scenarios.py

# The seed scenarios, compressed in time (reports/scenarios/<run-id>/); F=... sets the time
# factor, R=... the observability scenario's rate divisor.
scenario-observability: venv
	$(PY) -m scenarios observability $(if $(F),--compress $(F)) $(if $(R),--rate-scale $(R))

scenario-reliability: venv
	$(PY) -m scenarios reliability $(if $(F),--compress $(F))

# Style, and the layers (the import contracts in pyproject.toml; README: Layout). CI runs it.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Types (about 2 min; not in CI: it reports errors the code has had for a while).
typecheck: venv
	$(VENV)/bin/mypy app components chaos functions localcloud scenarios

clean:
	rm -rf $(VENV) .localcloud reports .pytest_cache .hypothesis .benchmarks
