# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast fuzz lint bench soak screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the whole system on embedded defaults: broker, platform, gateway, a simulated estate.
demo: setup
	bash scripts/ensure-deps.sh demo
	$(BIN)/gongzhi demo

## Install or start what the tests need, then run the whole suite, one worker per core (at most
## four: each test starts its own services on free ports, so they run side by side). The rules
## are compiled into their cache first, once, rather than by every worker's processes at once.
test: setup
	bash scripts/ensure-deps.sh test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -c "from gongzhi.gateway.detection.warm import compile_rules; compile_rules()"
	$(BIN)/pytest -n auto --maxprocesses 4

test-fast: setup
	$(BIN)/pytest -m "not integration and not browser and not postgres"

## A longer Schemathesis run of the platform's API than `make test`'s (FUZZ_EXAMPLES per operation).
FUZZ_EXAMPLES ?= 1500
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest --timeout 3600 tests/fuzz/test_fuzz_openapi.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

## Benchmarks: one JSON object per line.
bench: setup
	bash scripts/ensure-deps.sh bench
	@for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

## Soak (not in CI): the whole system at 10,000 msg/s for 30 min; memory, lag, loss as JSON lines.
soak: setup
	bash scripts/ensure-deps.sh demo
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)

## Refresh the screenshots in docs/screenshots from the browser tests.
screenshots: setup
	bash scripts/ensure-deps.sh test
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q tests/pages

clean:
	rm -rf $(VENV) .gongzhi .pytest_cache .mypy_cache .ruff_cache
