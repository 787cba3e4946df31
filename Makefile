# Everyday targets. The first `make serve` or `make test` creates .venv and installs into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test test-container lint format typecheck pytest pretrained bench lock clean

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
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test-container: $(STAMP)  ## build and run the Docker image (podman; needs root)
	$(BIN)/pytest -m container -s

pretrained: $(STAMP)  ## rebuild model/pretrained/sunspots.safetensors
	$(BIN)/python scripts/train_sunspots.py

bench: $(STAMP)  ## throughput against a naive server and KServe (~8 min; writes bench/results.md)
	$(BIN)/python bench/run.py

lock:  ## pin the runtime dependencies the Docker image installs (requirements.lock)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check .
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze --exclude lstm-serve; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
