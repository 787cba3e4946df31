"""`make bench-backends`: the three inference backends (torch, NumPy, ONNX Runtime) side by side,
in one run, on the classic model (input 10, hidden 20, 2 layers, 10 steps):

1. the raw forward pass of each backend's Predictor, one thread each, at B = 1, 16 and 256
   (microseconds per sequence);
2. `lstm-serve serve --backend onnx` against `--backend torch` with one sequence per request
   from one connection (streaming: nothing to batch), then under the single-sequence and the
   bulk workloads of `make bench` (wrk; requests/s and latency);
3. start-up time (launch to the first 200 of /readyz) and resident memory of each backend.

Every figure is the median of BENCH_RUNS rounds (3), taken round by round so that a busy minute
of a shared machine hits every backend alike. Writes bench/backends-results.md.

    python bench/backends.py
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # NumPy's BLAS reads these once, at import: one thread, like the rest

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import servers  # noqa: E402
from bench_startup import free_port, start_once  # noqa: E402
from load import Load, Result, measure  # noqa: E402
from prerequisites import ensure_wrk  # noqa: E402
from workloads import BULK, JSON, SINGLE, Workload, write_bodies, write_checkpoint  # noqa: E402

from model.backends import BACKENDS, predictor_class  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from model.inference import Predictor  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
BATCHES = (1, 16, 256)
SEQUENCES_PER_TIMING = 2000  # per timed block, so that every B is timed for about as long
SERVED = ("torch", "onnx")  # the server workloads: the default against ONNX Runtime
OUT = HERE / "backends-results.md"
# The streaming case: one client, one sequence per request, so no batching hides the model's
# cost (the body of (a)).
STREAM = Workload(SINGLE.key, "(s) 1 sequence/request, 1 connection", 1, 1)
WORKLOADS = (STREAM, SINGLE, BULK)


def forward_us(predictors: dict[str, Predictor]) -> dict[tuple[str, int], float]:
    """Median microseconds per sequence of each backend's forward pass at each batch size."""
    rng = np.random.default_rng(0)
    timings: dict[tuple[str, int], list[float]] = defaultdict(list)
    for _ in range(RUNS):
        for batch in BATCHES:
            x = rng.normal(size=(batch, 10, 10)).astype(np.float32)  # (B, T, F) model units
            lengths = np.full(batch, 10)
            calls = max(5, SEQUENCES_PER_TIMING // batch)
            for name, predictor in predictors.items():
                run = _call(predictor, x, lengths)
                run()  # warm up: first-call allocations
                started = time.perf_counter()
                for _ in range(calls):
                    run()
                timings[name, batch].append((time.perf_counter() - started) / calls / batch * 1e6)
    return {key: statistics.median(values) for key, values in timings.items()}


def _call(predictor: Predictor, x: np.ndarray, lengths: np.ndarray) -> Callable[[], object]:
    return lambda: predictor.forward(x, lengths, None, False)


def served(checkpoint: Path, work: Path) -> dict[tuple[str, str], Result]:
    """Each backend's server under (a) and (b), round by round; medians of each figure."""
    bodies = write_bodies(work)
    started = {name: _start(name, checkpoint, work) for name in SERVED}
    results: dict[tuple[str, str], list[Result]] = defaultdict(list)
    try:
        for run in range(RUNS):
            for workload in WORKLOADS:
                for name, server in started.items():
                    load = Load(server.url + "/v1/predict", bodies[workload.key, "inputs"], JSON,
                                workload.connections)  # fmt: skip
                    measure(load, 1)  # warm up
                    result = measure(load, SECONDS)
                    print(f"run {run + 1}/{RUNS} {name} {workload.label}: {result}",
                          file=sys.stderr)  # fmt: skip
                    results[name, workload.label].append(result)
    finally:
        for server in started.values():
            servers.stop(server)
    return {key: _median(values) for key, values in results.items()}


def _start(backend: str, checkpoint: Path, work: Path) -> servers.Server:
    port = free_port()
    env = {"LSTM_SERVE_DATA_DIR": str(work / f"var-{backend}"), "LSTM_SERVE_NO_AUTH": "true"}
    command = [str(servers.OURS / "lstm-serve"), "serve", "--model", str(checkpoint),
               "--port", str(port), "--backend", backend]  # fmt: skip
    return servers.start(backend, command, port, "/readyz", env, work / f"{backend}.log")


def _median(results: list[Result]) -> Result:
    return Result(*(statistics.median(getattr(r, field) for r in results)
                    for field in Result.__dataclass_fields__))  # fmt: skip


def startup() -> dict[str, tuple[float, float, bool]]:
    """Median seconds to ready and resident MiB of a fresh server per backend, and whether it
    loaded libtorch."""
    runs: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for _ in range(RUNS):
        for backend in BACKENDS:
            runs[backend].append(start_once(backend))
    return {
        backend: (statistics.median(r[0] for r in results),
                  statistics.median(r[1] for r in results), results[0][2])
        for backend, results in runs.items()
    }  # fmt: skip


def markdown(
    forward: dict[tuple[str, int], float],
    server: dict[tuple[str, str], Result],
    start: dict[str, tuple[float, float, bool]],
) -> str:
    lines = [
        "# Backends: torch, NumPy, ONNX Runtime",
        "",
        f"`make bench-backends` (bench/backends.py), {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores shared with other work; medians of {RUNS} rounds.",
        "",
        "## Raw forward pass, one thread (µs per sequence; classic model, 10 steps)",
        "",
        "| backend | " + " | ".join(f"B = {b}" for b in BATCHES) + " |",
        "|---|" + "---:|" * len(BATCHES),
    ]
    for name in BACKENDS:
        cells = " | ".join(f"{forward[name, b]:.1f}" for b in BATCHES)
        lines.append(f"| {name} | {cells} |")
    ratios = " | ".join(f"{forward['torch', b] / forward['onnx', b]:.1f}x" for b in BATCHES)
    lines += [f"| torch / onnx | {ratios} |", "",
              f"## Server, --backend onnx against torch (wrk, {SECONDS} s per run)", "",
              "| workload | backend | requests/s | p50 ms | p99 ms | errors |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for workload in WORKLOADS:
        for name in SERVED:
            r = server[name, workload.label]
            lines.append(f"| {workload.label} | {name} | {r.requests_per_s:.0f} | "
                         f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors:.0f} |")  # fmt: skip
    lines += ["", "## Start-up (launch to ready) and resident memory", "",
              "| backend | ready (s) | RSS (MiB) | libtorch loaded |",
              "|---|---:|---:|---|"]  # fmt: skip
    for name, (ready, rss, torch_loaded) in start.items():
        lines.append(f"| {name} | {ready:.2f} | {rss:.0f} | {'yes' if torch_loaded else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ensure_wrk()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        checkpoint = write_checkpoint(work)  # the classic model's state_dict, as a user has it
        loaded = load_checkpoint(checkpoint)
        predictors = {}
        for name in BACKENDS:
            cls = predictor_class(name)
            cls.use_threads(1)
            predictors[name] = cls(loaded)
        forward = forward_us(predictors)
        server = served(checkpoint, work)
    text = markdown(forward, server, startup())
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
