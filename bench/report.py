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
from workloads import BULK, SINGLE, TRAINING

LABELS = {SINGLE.key: SINGLE.label, BULK.key: BULK.label, TRAINING.key: TRAINING.label}
SEQUENCES = {SINGLE.key: 1, BULK.key: 256, TRAINING.key: 1}
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
        for key in ("kserve-1", "kserve-2"):
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
        naive = medians["naive FastAPI", SINGLE.key if workload == TRAINING.key else workload]
        rows.append(
            f"| {label} | {LABELS[workload]} | {result.requests_per_s:,.0f} "
            f"| {result.requests_per_s * SEQUENCES[workload]:,.0f} | {result.p50_ms:.1f} "
            f"| {result.p99_ms:.1f} | {result.requests_per_s / naive.requests_per_s:.2f} |"
        )
    return rows


def _targets(m: Medians) -> list[str]:
    a, b = SINGLE.key, BULK.key
    ours_a, ours_b = m["lstm-serve JSON", a], m["lstm-serve JSON", b]
    peers_a = [m["naive FastAPI", a], m["KServe v1", a], m["KServe v2", a]]
    kserve_b = max(m["KServe v1", b].requests_per_s, m["KServe v2", b].requests_per_s)
    ours2_a, ours2_b = m["lstm-serve JSON, 2 workers", a], m["lstm-serve JSON, 2 workers", b]
    kserve2_a = max(m["KServe v1, 2 workers", a], m["KServe v2, 2 workers", a],
                    key=lambda r: r.requests_per_s)  # fmt: skip
    kserve2_b = max(m["KServe v1, 2 workers", b].requests_per_s,
                    m["KServe v2, 2 workers", b].requests_per_s)  # fmt: skip
    naive_a, naive_b = m["naive FastAPI", a].requests_per_s, m["naive FastAPI", b].requests_per_s
    training_p99 = m["lstm-serve JSON", TRAINING.key].p99_ms
    npy_b = m["lstm-serve .npy", b].requests_per_s
    checks = [
        ("(a) single: >= 2.5x naive req/s", ours_a.requests_per_s >= 2.5 * naive_a),
        ("(a) single: above KServe (v1 and v2, 1 worker)",
         ours_a.requests_per_s > max(r.requests_per_s for r in peers_a[1:])),
        ("(a) single: p99 no worse than naive's and KServe's",
         ours_a.p99_ms <= min(r.p99_ms for r in peers_a)),
        ("(b) bulk: >= 5x naive seq/s", ours_b.requests_per_s >= 5 * naive_b),
        ("(b) bulk: above KServe (v1 and v2, 1 worker)", ours_b.requests_per_s > kserve_b),
        ("(c) training: p99 <= 2x p99 without", training_p99 <= 2 * ours_a.p99_ms),
        ("(d) .npy bulk >= 2x our JSON bulk", npy_b >= 2 * ours_b.requests_per_s),
        ("2 workers: (a) above KServe's 2 workers",
         ours2_a.requests_per_s > kserve2_a.requests_per_s),
        ("2 workers: (a) p99 no worse than KServe's 2 workers", ours2_a.p99_ms <= kserve2_a.p99_ms),
        ("2 workers: (b) above KServe's 2 workers", ours2_b.requests_per_s > kserve2_b),
    ]  # fmt: skip
    return [f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in checks]


def markdown(medians: Medians, floors: dict[int, float], runs: int, seconds: int,
             load_average: float) -> str:  # fmt: skip
    floor = "; ".join(f"batch {batch}: {us:.1f} µs per sequence ({1e6 / us:,.0f} seq/s)"
                      for batch, us in floors.items())  # fmt: skip
    lines = [
        f"Measured {datetime.date.today().isoformat()} by `make bench` on {_machine()}; "
        f"load average {load_average:.2f} before the run.",
        f"Load: {_generator()}. Each cell: the median of {runs} runs of {seconds} s, "
        "round by round over all servers, after a warm-up.",
        "",
        f"Raw model (torch forward pass alone, one thread): {floor}.",
        "",
        *_rows(medians),
        "",
        "Targets:",
        *_targets(medians),
    ]
    return "\n".join(lines) + "\n"
