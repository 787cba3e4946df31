"""What one hostile request costs a real server: its answer, how long it took, how much the
server's peak memory (VmHWM) grew, and the slowest /healthz answer while it ran (probed every
10 ms from another thread on a kept-alive connection), so tests can assert that no small request
costs big memory or stalls the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.servers import Server


@dataclass(frozen=True)
class Cost:
    response: httpx.Response
    seconds: float
    peak_growth_mb: float
    slowest_probe_s: float


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def cost_of(server: Server, send: Callable[[httpx.Client], httpx.Response]) -> Cost:
    probes: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with server.client() as prober:
            while not stop.is_set():
                started = time.monotonic()
                assert prober.get("/healthz").status_code == 200
                probes.append(time.monotonic() - started)
                time.sleep(0.01)

    before = peak_rss_mb(server.process.pid)
    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    time.sleep(0.05)
    with server.client() as client:
        started = time.monotonic()
        response = send(client)
        seconds = time.monotonic() - started
    time.sleep(0.05)
    stop.set()
    prober.join(timeout=15)
    growth = peak_rss_mb(server.process.pid) - before
    return Cost(response, seconds, growth, max(probes))
