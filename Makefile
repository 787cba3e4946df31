# Everyday targets. The first `make serve` or `make test` creates .venv and installs into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint format typecheck pytest pretrained bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)  ## start the service on 127.0.0.1:8000 (the shipped sunspot model on a new data dir)
	$(BIN)/lstm-serve serve

test: lint typecheck pytest  ## everything CI runs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

pretrained: $(STAMP)  ## rebuild model/pretrained/sunspots.safetensors
	$(BIN)/python scripts/train_sunspots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
