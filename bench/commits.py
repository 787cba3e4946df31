"""`make bench-commits REVS="A B"` (or `python bench/commits.py A B ...`): lstm-serve as it was
at several git revisions, each its own server with its defaults, against the naive server, in
one run: the same wrk load as `make bench`, round by round, medians of RUNS runs. What a change
cost or gained, measured on one machine in one sitting rather than across days.

Each revision is checked out with `git worktree` into a temporary directory and served by this
checkout's virtual environment (the dependencies of the newest revision), with the revision's
own `app` and `model` put first on the import path."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import servers
from load import Load, Result, measure
from prerequisites import ensure_wrk
from run import RUNS, SECONDS, WARMUP_SECONDS
from workloads import BULK, JSON, SINGLE, write_bodies, write_checkpoint

# The checkout's editable install would import its own `app`: drop its finder first.
LAUNCH = """import sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, sys.argv[1])
try:
    from app.cli.main import main
except ImportError:  # before app/ was a tree of packages
    from app.cli import main
sys.argv = ["lstm-serve", "serve", *sys.argv[2:]]
sys.exit(main())
"""


def serve_revision(revision: str, checkpoint: Path, port: int, work: Path) -> servers.Server:
    tree = work / f"tree-{revision}"
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), revision],
                   cwd=servers.ROOT, check=True, capture_output=True)  # fmt: skip
    env = {"LSTM_SERVE_API_TOKEN": servers.TOKEN, "LSTM_SERVE_DATA_DIR": str(work / revision)}
    command = [str(servers.OURS / "python"), "-c", LAUNCH, str(tree), "--model", str(checkpoint),
               "--port", str(port)]  # fmt: skip
    return servers.start(revision, command, port, "/readyz", env, work / f"{revision}.log")


def main(revisions: list[str]) -> None:
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="lstm-serve-commits-"))
    checkpoint, bodies = write_checkpoint(work), write_bodies(work)
    started = {"naive": servers.naive(checkpoint, 8701, work / "naive.log")}
    results: dict[tuple[str, str], list[Result]] = {}
    try:
        for index, revision in enumerate(revisions):
            started[revision] = serve_revision(revision, checkpoint, 8711 + index, work)
        for _ in range(RUNS):
            for name, server in started.items():
                path = "/predict" if name == "naive" else "/v1/predict"
                for workload in (SINGLE, BULK):
                    load = Load(server.url + path, bodies[workload.key, "inputs"], JSON,
                                workload.connections)  # fmt: skip
                    measure(load, WARMUP_SECONDS)
                    results.setdefault((name, workload.key), []).append(measure(load, SECONDS))
    finally:
        for server in started.values():
            servers.stop(server)
        for revision in revisions:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / f"tree-{revision}")],
                           cwd=servers.ROOT, check=False, capture_output=True)  # fmt: skip
    print("| revision | workload | req/s (median) | vs naive | p99 ms | each run, req/s |")
    print("|---|---|---:|---:|---:|---|")
    for workload in (SINGLE, BULK):
        naive = statistics.median(r.requests_per_s for r in results["naive", workload.key])
        for name in started:
            runs = results[name, workload.key]
            rate = statistics.median(r.requests_per_s for r in runs)
            p99 = statistics.median(r.p99_ms for r in runs)
            each = ", ".join(f"{r.requests_per_s:,.0f}" for r in runs)
            print(f"| {name} | {workload.label} | {rate:,.0f} | {rate / naive:.2f} | {p99:.1f} "
                  f"| {each} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
