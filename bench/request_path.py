"""`make bench-path`: what one request costs on its way through lstm-serve, against the naive
FastAPI server in the same run (both at their defaults, each logging every request): a single
sequence per request and 256 per request, with bodies at 6 decimals and at full precision (17
significant digits, as Python's json writes a float), and lstm-serve with its observability off
(bench/bare_server.py) beside it; then lstm-serve's single-sequence p99 just before and while a
training job runs. Medians of RUNS rounds; writes bench/request-path-results.md."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path

import servers
from load import Load, Result, measure
from prerequisites import ensure_wrk, wait_for_quiet
from quiet import cpu_seconds, groups_of, undisturbed
from training import TrainingJob
from workloads import BULK, JSON, PRECISIONS, SINGLE, write_bodies, write_checkpoint

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
HERE = Path(__file__).resolve().parent
# (row label, server key, path)
ROWS = [
    ("naive FastAPI", "naive", "/predict"),
    ("lstm-serve", "ours", "/v1/predict"),
    ("lstm-serve, observability off", "bare", "/v1/predict"),
]


def start(checkpoint: Path, work: Path) -> dict[str, servers.Server]:
    env = {"LSTM_SERVE_API_TOKEN": servers.TOKEN}
    bare = [str(servers.OURS / "python"), str(HERE / "bare_server.py"), "--model",
            str(checkpoint), "--port", "8713", "--data-dir", str(work / "var-bare")]  # fmt: skip
    return {
        "naive": servers.naive(checkpoint, 8711, work / "naive.log"),
        "ours": servers.ours(checkpoint, 8712, 1, work / "var-ours", work / "ours.log"),
        "bare": servers.start("bare", bare, 8713, "/readyz", env, work / "bare.log"),
    }


def main() -> None:
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="lstm-serve-bench-path-"))
    checkpoint = write_checkpoint(work)
    bodies = {precision: write_bodies(work, precision) for precision in PRECISIONS}
    started = start(checkpoint, work)
    results: dict[tuple[str, str, str], list[Taken]] = {}
    try:
        wait_for_quiet()
        for run in range(RUNS):
            for label, key, path in ROWS:
                for precision in PRECISIONS:
                    for workload in (SINGLE, BULK):
                        body = bodies[precision][workload.key, "inputs"]
                        load = Load(started[key].url + path, body, JSON, workload.connections)
                        name = f"run {run + 1}/{RUNS} {label} {workload.key} {precision}"
                        groups = groups_of(started[key].process.pid)
                        result, _ = undisturbed(groups, lambda load=load, groups=groups:
                                                _taken(load, groups), name)  # fmt: skip
                        print(f"{name}: {result}", file=sys.stderr)
                        results.setdefault((label, workload.key, precision), []).append(result)
        training = _with_training(started["ours"], bodies["full precision"][SINGLE.key, "inputs"])
    finally:
        for server in started.values():
            servers.stop(server)
    text = markdown({key: _median(values) for key, values in results.items()}, training)
    print(text)
    (HERE / "request-path-results.md").write_text(text)


def _with_training(server: servers.Server, body: Path) -> tuple[Taken, Taken]:
    """Single sequences at full precision, RUNS times just before a training job starts on the
    same server and RUNS times while it trains (the pair minutes apart at most)."""
    load = Load(server.url + "/v1/predict", body, JSON, SINGLE.connections)
    groups = groups_of(server.process.pid)
    before = [undisturbed(groups, lambda: _taken(load, groups), "before training")[0]
              for _ in range(RUNS)]  # fmt: skip
    with TrainingJob(server.url, servers.TOKEN) as job:
        # The worker's process group counts as the server's: its CPU is not a disturbance.
        busy = groups_of(server.process.pid)
        during = [undisturbed(busy, lambda: _taken(load, groups), "while training")[0]
                  for _ in range(RUNS)]  # fmt: skip
        job.check_still_running()
    return _median(before), _median(during)


@dataclass(frozen=True)
class Taken(Result):
    """A run, and the server's CPU time (all its threads) per request answered: what a request
    costs, less swayed than req/s by how the event loop, the model thread and the log writer
    happened to interleave."""

    cpu_us: float


def _taken(load: Load, groups: set[int]) -> Taken:
    measure(load, 1)  # warm-up
    before = cpu_seconds(groups)
    result = measure(load, SECONDS)
    used = cpu_seconds(groups) - before
    return Taken(*astuple(result), cpu_us=used / (result.requests_per_s * SECONDS) * 1e6)


def _median(results: list[Taken]) -> Taken:
    rows = [astuple(result) for result in results]
    return Taken(*(statistics.median(values) for values in zip(*rows, strict=True)))


_NAMES = {SINGLE.key: "single", BULK.key: "bulk 256"}


def markdown(medians: dict[tuple[str, str, str], Taken], training: tuple[Taken, Taken]) -> str:
    lines = [
        f"`make bench-path`: medians of {RUNS} runs of {SECONDS} s, round by round; wrk, one "
        "thread; the classic model (input 10, hidden 20, 2 layers, 10 steps).",
        "",
        "| server | workload | body | req/s | seq/s | p50 ms | p99 ms | server CPU µs/req "
        "| vs naive |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (label, workload, precision), result in medians.items():
        sequences = SINGLE.sequences if workload == SINGLE.key else BULK.sequences
        naive = medians["naive FastAPI", workload, precision]
        lines.append(
            f"| {label} | {_NAMES[workload]} | {precision} "
            f"| {result.requests_per_s:,.0f} | {result.requests_per_s * sequences:,.0f} "
            f"| {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.cpu_us:,.0f} "
            f"| {result.requests_per_s / naive.requests_per_s:.2f} |"
        )
    lines += ["", "Observability (access log, request id, request metrics) on against off:"]
    for precision in PRECISIONS:
        for workload in (SINGLE.key, BULK.key):
            on = medians["lstm-serve", workload, precision]
            off = medians["lstm-serve, observability off", workload, precision]
            lines.append(
                f"- {_NAMES[workload]}, {precision}: {on.requests_per_s / off.requests_per_s:.1%} "
                f"of the throughput without; {on.cpu_us - off.cpu_us:+,.0f} µs of server CPU per "
                f"request ({on.cpu_us / off.cpu_us - 1:+.1%})"
            )
    before, during = training
    lines += [
        "",
        f"While a training job runs (single sequences, full precision): p99 {during.p99_ms:.1f} ms "
        f"against {before.p99_ms:.1f} just before ({during.p99_ms / before.p99_ms:.2f}x), "
        f"{during.requests_per_s:,.0f} req/s against {before.requests_per_s:,.0f}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
