"""The results: a check that every server answers the same numbers, the markdown table with
ratios to the naive server, and the issue's targets, met or missed."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from load import Result, generator
from servers import Server
from workloads import BEFORE_TRAINING, BULK, SINGLE, TRAINING

WORKLOADS = {w.key: w for w in (SINGLE, BULK, BEFORE_TRAINING, TRAINING)}
Medians = dict[tuple[str, str], Result]


def _post(url: str, body: Path, content_type: str) -> Any:
    request = urllib.request.Request(url, body.read_bytes(), {"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def check_answers(started: dict[str, Server], bodies: dict[tuple[str, str], Path]) -> None:
    """Every server, every protocol: the same predictions for the same numbers (within 1e-5)."""
    json_type, npy_type = "application/json", "application/x-npy"
    for workload in (SINGLE.key, BULK.key):
        found = {}
        for key in ("kserve-1", "kserve-1t", "kserve-2t"):
            url = started[key].url
            v1 = _post(url + "/v1/models/lstm:predict", bodies[workload, "instances"], json_type)
            v2 = _post(url + "/v2/models/lstm/infer", bodies[workload, "v2"], json_type)
            found[key + " v1"] = [row[0] for row in v1["predictions"]]
            found[key + " v2"] = v2["outputs"][0]["data"]
        naive = _post(started["naive"].url + "/predict", bodies[workload, "inputs"], json_type)
        found["naive"] = [row[0] for row in naive["predictions"]]
        for key in ("ours-1", "ours-2"):
            for kind, media in (("inputs", json_type), ("npy", npy_type)):
                ours = _post(started[key].url + "/v1/predict", bodies[workload, kind], media)
                found[f"{key} {kind}"] = [row[0] for row in ours["predictions"]]
        reference = found["naive"]
        for name, values in found.items():
            worst = max(abs(a - b) for a, b in zip(values, reference, strict=True))
            if worst > 1e-5:
                raise RuntimeError(f"{name} differs from the naive server by {worst}")


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        model = names[0] if names else model
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def _generator() -> str:
    if generator() == "python":
        return "the Python load generator (bench/pyload.py; wrk was not available)"
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return f"{(version.stdout or version.stderr).split()[1]} wrk, one thread, bench/post.lua"


def _rows(medians: Medians) -> list[str]:
    rows = ["| server | workload | req/s | seq/s | p50 ms | p99 ms | vs naive |",
            "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (label, workload), result in medians.items():
        peer = "naive FastAPI, 6 decimals" if label.endswith("6 decimals") else "naive FastAPI"
        naive = medians[peer, BULK.key if workload == BULK.key else SINGLE.key]
        rows.append(
            f"| {label} | {WORKLOADS[workload].label} | {result.requests_per_s:,.0f} "
            f"| {result.requests_per_s * WORKLOADS[workload].sequences:,.0f} | {result.p50_ms:.1f} "
            f"| {result.p99_ms:.1f} | {result.requests_per_s / naive.requests_per_s:.2f} |"
        )
    return rows


def _best(m: Medians, labels: tuple[str, ...], workload: str) -> Result:
    return max((m[label, workload] for label in labels), key=lambda r: r.requests_per_s)


KSERVE_1 = ("KServe v1", "KServe v2", "KServe v1, 1 torch thread", "KServe v2, 1 torch thread")
KSERVE_2 = ("KServe v1, 2 workers of 1 torch thread", "KServe v2, 2 workers of 1 torch thread")


def _targets(m: Medians) -> list[str]:
    """The issue's targets, against the strongest KServe configuration with as many workers."""
    a, b = SINGLE.key, BULK.key
    ours_a, ours_b = m["lstm-serve JSON", a], m["lstm-serve JSON", b]
    ours2_a, ours2_b = m["lstm-serve JSON, 2 workers", a], m["lstm-serve JSON, 2 workers", b]
    naive_a, naive_b = m["naive FastAPI", a], m["naive FastAPI", b]
    kserve_a, kserve_b = _best(m, KSERVE_1, a), _best(m, KSERVE_1, b)
    kserve2_a, kserve2_b = _best(m, KSERVE_2, a), _best(m, KSERVE_2, b)
    p99_peers = min(naive_a.p99_ms, *(m[label, a].p99_ms for label in KSERVE_1))
    training = m["lstm-serve JSON", TRAINING.key]
    before = m["lstm-serve JSON", BEFORE_TRAINING.key]
    npy_b = m["lstm-serve .npy", b]
    checks = [
        ("(a) single, full precision: >= 3x naive req/s",
         ours_a.requests_per_s >= 3 * naive_a.requests_per_s),
        ("(a) single: above the best KServe, 1 worker",
         ours_a.requests_per_s > kserve_a.requests_per_s),
        ("(a) single: p99 no worse than naive's and every KServe's, 1 worker",
         ours_a.p99_ms <= p99_peers),
        ("(b) bulk, full precision: >= 7x naive seq/s",
         ours_b.requests_per_s >= 7 * naive_b.requests_per_s),
        ("(b) bulk: above the best KServe, 1 worker",
         ours_b.requests_per_s > kserve_b.requests_per_s),
        ("(c) training: p99 <= 1.5x p99 just before", training.p99_ms <= 1.5 * before.p99_ms),
        ("(d) .npy bulk >= 2x our JSON bulk", npy_b.requests_per_s >= 2 * ours_b.requests_per_s),
        ("2 workers: (a) above the best KServe", ours2_a.requests_per_s > kserve2_a.requests_per_s),
        ("2 workers: (a) p99 no worse than its", ours2_a.p99_ms <= kserve2_a.p99_ms),
        ("2 workers: (b) above the best KServe", ours2_b.requests_per_s > kserve2_b.requests_per_s),
    ]  # fmt: skip
    return [f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in checks]


def _scale_out(m: Medians) -> list[str]:
    """Several processes against one lstm-serve worker, in the same run."""
    lines = []
    for label in ("lstm-serve JSON, 2 workers", "lstm-serve JSON, 2 replicas behind HAProxy"):
        parts = []
        for key in (SINGLE.key, BULK.key):
            many, one = m[label, key], m["lstm-serve JSON", key]
            parts.append(
                f"({key}) {many.requests_per_s / one.requests_per_s:.2f}x req/s, "
                f"p99 {many.p99_ms:.1f} ms against {one.p99_ms:.1f}"
            )
        lines.append(f"- {label}: {'; '.join(parts)}")
    return lines


def _spread(results: dict[tuple[str, str], list[Result]]) -> list[str]:
    """Every run of the rows with several processes: KServe's workers share one listening
    socket, and whichever accepts first may take most of wrk's connections; ours each have
    their own (SO_REUSEPORT), which the kernel balances."""
    lines = []
    for (label, workload), runs in results.items():
        if "2 workers" in label or "2 replicas" in label:
            rates = ", ".join(f"{run.requests_per_s:,.0f}" for run in runs)
            lines.append(f"- {label}, ({workload}): {rates} req/s")
    return lines


def markdown(medians: Medians, results: dict[tuple[str, str], list[Result]],
             floors: dict[int, float], runs: int, seconds: int, others: float,
             session_steps: dict[str, float]) -> str:  # fmt: skip
    floor = "; ".join(f"batch {batch}: {us:.1f} µs per sequence ({1e6 / us:,.0f} seq/s)"
                      for batch, us in floors.items())  # fmt: skip
    lines = [
        f"Measured {datetime.date.today().isoformat()} by `make bench` on {_machine()}.",
        f"Load: {_generator()}. Each cell: the median of {runs} runs of {seconds} s, "
        "round by round over all servers, each after a warm-up; a run during which other "
        f"processes took over 10% of the CPUs was taken again (the most they took in a run "
        f"kept: {others:.0%}).",
        "",
        f"Raw model (torch forward pass alone, one thread): {floor}.",
        "",
        *_rows(medians),
        "",
        "Targets:",
        *_targets(medians),
        "",
        "Against one lstm-serve worker:",
        *_scale_out(medians),
        "",
        "Each run of the rows with several processes:",
        *_spread(results),
        "",
        "A session step (hold and save, the classic model's state, no HTTP): "
        + ", ".join(f"{store} {us:,.1f} µs" for store, us in session_steps.items())
        + " (bench/session_stores.py).",
    ]
    return "\n".join(lines) + "\n"
