# The README's two commands: `make run` and `make test`. Both set up whatever is missing.
SHELL := /bin/bash
SETUP := scripts/setup.sh

.PHONY: setup run test lint clean

setup:
	@bash $(SETUP) --full

run:
	@bash $(SETUP)
	@.venv/bin/secondself run --demo-if-no-mic

test:
	@bash $(SETUP) --test
	@.venv/bin/ruff check daemon hw tests scripts
	@.venv/bin/ruff format --check daemon hw tests scripts
	@scripts/typecheck.sh
	@scripts/lint_imports.sh
	@.venv/bin/python -m pytest -q

lint:
	@.venv/bin/ruff check daemon hw tests scripts && scripts/typecheck.sh && scripts/lint_imports.sh

clean:
	rm -rf .venv build *.egg-info .mypy_cache .ruff_cache .pytest_cache
