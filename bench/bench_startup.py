"""Start-up time and memory of `lstm-serve serve` with each backend, on the shipped model.

Starts a real server per run on a fresh data directory, times it from launch to the first 200 of
/readyz, reads its resident memory (VmRSS) once ready, and checks whether torch is loaded.
Prints medians over --runs.

    python bench/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model.backends import BACKENDS
from tests.support.servers import LSTM_SERVE, clean_env, free_port


def start_once(backend: str) -> tuple[float, float, bool]:
    """(seconds to ready, resident MiB, torch loaded) for one fresh server."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(LSTM_SERVE), "serve", "--port", str(port), "--backend", backend,
             "--data-dir", data_dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(),
        )  # fmt: skip
        try:
            ready = _wait_ready(f"http://127.0.0.1:{port}/readyz") - started
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS"))
                          .split()[1])  # fmt: skip
            torch_loaded = "libtorch" in Path(f"/proc/{process.pid}/maps").read_text()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return ready, rss_kib / 1024, torch_loaded


def _wait_ready(url: str) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter()
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} not ready in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"{'backend':8} {'ready (s)':>10} {'RSS (MiB)':>10}  torch loaded")
    for backend in BACKENDS:
        results = [start_once(backend) for _ in range(runs)]
        print(
            f"{backend:8} {statistics.median(r[0] for r in results):10.2f} "
            f"{statistics.median(r[1] for r in results):10.0f}  {results[0][2]}"
        )


if __name__ == "__main__":
    main()
