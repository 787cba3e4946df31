# Everyday targets. The first `make serve` or `make test` creates .venv and installs into it.
# Any CPython from 3.11 up; 3.11 first, for which PyTorch's CPU wheel may already be on the disk.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
# Stamps: what is installed. Serving needs the runtime dependencies only; the checks need the dev
# extra (test clients, linters, the docs site) as well.
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: install serve test test-slow soak test-container lint format typecheck pytest docs screenshots pretrained bench bench-path bench-train bench-backends bench-grpc bench-commits study lock clean

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(DEV)

serve: $(RUNTIME)  ## start the service on 127.0.0.1:8000 (the shipped sunspot model on a new data dir)
	$(BIN)/lstm-serve serve

test: lint typecheck docs pytest  ## the checks and every test but the slow ones (under 10 minutes)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

format: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	bash scripts/system-packages.sh
	$(BIN)/pytest -m 'not container and not soak and not slow'

test-slow: $(DEV)  ## the tests over ~8 s each (marker slow: crashes, restarts, process groups, scale-out, the study's quick grid; ~5 min); CI runs it after `make test`
	bash scripts/system-packages.sh
	$(BIN)/pytest -m slow

docs: $(DEV)  ## build the documentation site into site/ (any warning or broken link fails)
	$(BIN)/mkdocs build --strict

screenshots: $(DEV)  ## the dashboard's browser tests, then two of their screenshots into docs/img/
	bash scripts/system-packages.sh
	rm -rf build/screenshots
	DASHBOARD_SCREENSHOTS=build/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_dashboard.py
	mkdir -p docs/img
	cp build/screenshots/job.png docs/img/dashboard-job.png
	cp build/screenshots/forecast-sunspots.png docs/img/dashboard-forecast.png

soak: $(DEV)  ## 10 minutes of mixed, invalid and hostile traffic while a job trains (SOAK_SECONDS)
	bash scripts/system-packages.sh
	$(BIN)/pytest -m soak -s -p no:cacheprovider tests/soak

test-container: $(DEV)  ## build and run the Docker image (podman; needs root)
	$(BIN)/pytest -m container -s

pretrained: $(DEV)  ## rebuild model/pretrained/sunspots.safetensors
	$(BIN)/python scripts/train_sunspots.py

bench: $(DEV)  ## throughput against a naive server and KServe (~8 min; writes bench/results.md)
	$(BIN)/python bench/run.py

study: $(DEV)  ## the truncation study: rnn, gru, lstm against truncation k (~20 min; writes experiments/truncation/)
	$(BIN)/python -m experiments.truncation.study

bench-path: $(DEV)  ## one request's cost: naive server vs lstm-serve, observability on and off, both precisions, p99 while training (~8 min; writes bench/request-path-results.md)
	$(BIN)/python bench/request_path.py

bench-train: $(DEV)  ## training samples/s: torch, NumPy, DDP on 2 processes, a memory-mapped series (writes bench/train-results.md)
	$(BIN)/python bench/train_speed.py

bench-backends: $(DEV)  ## torch, NumPy and ONNX Runtime: raw forward, served workloads, start-up and memory (~4 min; writes bench/backends-results.md)
	$(BIN)/python bench/backends.py

bench-grpc: $(DEV)  ## gRPC vs HTTP /v2, single-sequence and session-step, beside KServe's gRPC server (~3 min; writes bench/grpc-results.md)
	$(BIN)/python bench/grpc_bench.py

bench-commits: $(DEV)  ## lstm-serve at several revisions in one run: make bench-commits REVS="A B"
	$(BIN)/python bench/commits.py $(REVS)

lock:  ## pin the runtime dependencies the Docker image installs (requirements.lock)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check .
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze --exclude lstm-serve; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
