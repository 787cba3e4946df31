"""`make bench`: lstm-serve against a naive FastAPI server and KServe's Python model server
(v1 and v2 protocols), each its own process on 127.0.0.1 with its defaults, one worker and two,
driven by wrk; lstm-serve also as two replicas behind HAProxy on PostgreSQL and Redis; plus the
raw model's forward pass and the cost of a session step in each session store. Every
configuration is measured RUNS times, round by round (so a slow minute on the machine hits all
of them), and the table holds the medians. Prints the table and the targets, and writes them
to bench/results.md."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import astuple
from pathlib import Path

import floor
import report
import servers
import session_stores
from cluster import Cluster, replicas_behind_haproxy
from load import Load, Result, measure
from prerequisites import ensure_kserve, ensure_wrk, wait_for_quiet
from quiet import groups_of, undisturbed
from training import TrainingJob
from workloads import (
    BEFORE_TRAINING,
    BULK,
    JSON,
    NPY,
    SINGLE,
    TRAINING,
    write_bodies,
    write_checkpoint,
)

# BENCH_RUNS and BENCH_SECONDS shorten a trial run; the README's table uses the defaults.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_SECONDS = 1
V1, V2 = "/v1/models/lstm:predict", "/v2/models/lstm/infer"
BOTH = (SINGLE, BULK)
# (row label, server, path, body kind, content type, workloads)
ROWS = [
    ("naive FastAPI", "naive", "/predict", "inputs", JSON, BOTH),
    ("naive FastAPI, 6 decimals", "naive", "/predict", "inputs-6", JSON, BOTH),
    ("KServe v1", "kserve-1", V1, "instances", JSON, BOTH),
    ("KServe v2", "kserve-1", V2, "v2", JSON, BOTH),
    ("KServe v1, 1 torch thread", "kserve-1t", V1, "instances", JSON, BOTH),
    ("KServe v2, 1 torch thread", "kserve-1t", V2, "v2", JSON, BOTH),
    ("lstm-serve JSON", "ours-1", "/v1/predict", "inputs", JSON, BOTH),
    ("lstm-serve JSON, 6 decimals", "ours-1", "/v1/predict", "inputs-6", JSON, BOTH),
    ("lstm-serve .npy", "ours-1", "/v1/predict", "npy", NPY, (BULK,)),
    ("KServe v1, 2 workers of 1 torch thread", "kserve-2t", V1, "instances", JSON, BOTH),
    ("KServe v2, 2 workers of 1 torch thread", "kserve-2t", V2, "v2", JSON, BOTH),
    ("lstm-serve JSON, 2 workers", "ours-2", "/v1/predict", "inputs", JSON, BOTH),
    ("lstm-serve .npy, 2 workers", "ours-2", "/v1/predict", "npy", NPY, (BULK,)),
    ("lstm-serve JSON, 2 replicas behind HAProxy", "replicas", "/v1/predict", "inputs", JSON, BOTH),
]
Measurements = dict[tuple[str, str], list[Result]]


def start_all(
    checkpoint: Path, work: Path, stack: ExitStack
) -> tuple[dict[str, servers.Server], Cluster]:
    """Every server, and the replicas' cluster (PostgreSQL, Redis, HAProxy), which `stack`
    stops."""
    started: dict[str, servers.Server] = {}
    starts: dict[str, Callable[[], servers.Server]] = {
        "naive": lambda: servers.naive(checkpoint, 8601, work / "naive.log"),
        "kserve-1": lambda: servers.kserve(checkpoint, 8611, 1, False, work / "kserve-1.log"),
        "kserve-1t": lambda: servers.kserve(checkpoint, 8651, 1, True, work / "kserve-1t.log"),
        "kserve-2t": lambda: servers.kserve(checkpoint, 8621, 2, True, work / "kserve-2t.log"),
        "ours-1": lambda: servers.ours(checkpoint, 8631, 1, work / "var-1", work / "ours-1.log"),
        "ours-2": lambda: servers.ours(checkpoint, 8641, 2, work / "var-2", work / "ours-2.log"),
    }
    try:
        for key, start in starts.items():
            print(f"starting {key}", file=sys.stderr)
            started[key] = start()
        print("starting replicas", file=sys.stderr)
        cluster = stack.enter_context(replicas_behind_haproxy(checkpoint, 8661, work))
        started["replicas"] = cluster.entry
    except BaseException:
        stop_all(started)
        raise
    return started, cluster


def stop_all(started: dict[str, servers.Server]) -> None:
    for server in started.values():
        servers.stop(server)


def taken(server: servers.Server, load: Load, label: str, shares: list[float]) -> Result:
    """One measurement after a warm-up, taken again while other processes disturb it; the
    share of the CPUs they used during the one kept goes to `shares`."""

    def run() -> Result:
        measure(load, WARMUP_SECONDS)
        return measure(load, SECONDS)

    pids = [server.process.pid, *server.serves_with]
    groups = set().union(*(groups_of(pid) for pid in pids))
    result, share = undisturbed(groups, run, label)
    shares.append(share)
    print(f"{label}: {result}, others {share:.0%}", file=sys.stderr)
    return result


def rounds(
    started: dict[str, servers.Server], bodies: dict[tuple[str, str], Path], shares: list[float]
) -> Measurements:
    results: Measurements = defaultdict(list)
    for run in range(RUNS):
        for label, key, path, kind, content_type, workloads in ROWS:
            for workload in workloads:
                load = Load(started[key].url + path, bodies[workload.key, kind], content_type,
                            workload.connections)  # fmt: skip
                name = f"run {run + 1}/{RUNS} {label} {workload.key}"
                results[label, workload.key].append(taken(started[key], load, name, shares))
    return results


def with_training(
    server: servers.Server, bodies: dict[tuple[str, str], Path], shares: list[float]
) -> tuple[list[Result], list[Result]]:
    """(a) on our server RUNS times, then RUNS times more while a training job runs in its
    worker process: a pair measured minutes apart at most, under the same background."""
    load = Load(server.url + "/v1/predict", bodies[SINGLE.key, "inputs"], JSON,
                TRAINING.connections)  # fmt: skip
    before = [taken(server, load, "before training", shares) for _ in range(RUNS)]
    with TrainingJob(server.url, servers.TOKEN) as job:
        during = [taken(server, load, "while training", shares) for _ in range(RUNS)]
        job.check_still_running()
    return before, during


def median(results: list[Result]) -> Result:
    rows = [astuple(result) for result in results]
    return Result(*(statistics.median(values) for values in zip(*rows, strict=True)))


def main() -> None:
    ensure_wrk()
    ensure_kserve()
    work = Path(tempfile.mkdtemp(prefix="lstm-serve-bench-"))
    checkpoint = write_checkpoint(work)
    bodies = write_bodies(work)  # full precision, as Python's json writes floats
    rounded = write_bodies(work, "6 decimals")  # as a sensor would send them
    bodies.update({(workload, "inputs-6"): rounded[workload, "inputs"] for workload in "ab"})
    with ExitStack() as stack:
        started, cluster = start_all(checkpoint, work, stack)
        wait_for_quiet()
        floors = {batch: floor.microseconds_per_sequence(checkpoint, batch) for batch in (1, 256)}
        try:
            report.check_answers(started, bodies)
            shares: list[float] = []
            results = rounds(started, bodies, shares)
            before, during = with_training(started["ours-1"], bodies, shares)
            results["lstm-serve JSON", BEFORE_TRAINING.key] = before
            results["lstm-serve JSON", TRAINING.key] = during
        finally:
            stop_all({key: server for key, server in started.items() if key != "replicas"})
        steps = asyncio.run(session_stores.measure(cluster.redis_url))
    medians = {key: median(values) for key, values in results.items()}
    text = report.markdown(medians, results, floors, RUNS, SECONDS, max(shares), steps)
    print(text)
    (Path(__file__).resolve().parent / "results.md").write_text(text)


if __name__ == "__main__":
    main()
