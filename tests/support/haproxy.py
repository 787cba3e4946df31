"""A real HAProxy in front of test backends: round robin over `127.0.0.1:<port>` servers, each
health-checked with `GET /readyz` every 200 ms (down after 2 failures, up after 1 success), so
that a test sees a stopped replica taken out within about half a second.

HAProxy runs in the foreground (`-db`) as a child of the test, with its config, log and stats
socket in a fresh short directory under /tmp (a unix socket path must stay under 108 bytes, which
a pytest tmp_path may not). The stats socket answers `show stat`: which servers are UP.
"""

from __future__ import annotations

import csv
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

BACKEND = "replicas"
START_TIMEOUT_S = 10.0
CONFIG = """\
# tests/support/haproxy.py: a load balancer for one test
global
    log stdout format raw local0
    stats socket {socket} mode 600 level admin
    maxconn 1024

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    # A request that finds its server gone (refused) is retried once, on another server.
    retries 1
    option redispatch

frontend test
    bind 127.0.0.1:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1
{servers}
"""


def haproxy_binary() -> str:
    """shutil.which, else Debian's /usr/sbin (often not on a non-root PATH); a failure if none."""
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).is_file():
        pytest.fail(
            "haproxy was not found: run scripts/system-packages.sh (Debian package haproxy)"
        )
    return found


@dataclass
class HAProxy:
    """A running HAProxy: `url` is its frontend; servers are named s0, s1, ... in backend order."""

    url: str
    process: subprocess.Popen[bytes]
    directory: Path
    log: Path
    stats_socket: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def command(self, line: str) -> str:
        """One command on the stats socket (`show stat`, `disable server replicas/s0`, ...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5.0)
            sock.connect(str(self.stats_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """Each server's status as HAProxy sees it: {"s0": "UP", "s1": "DOWN", ...}."""
        rows = csv.DictReader(self.command("show stat").removeprefix("# ").splitlines())
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_for(self, states: dict[str, str], timeout: float = 5.0) -> None:
        """Until the named servers have exactly these states (e.g. {"s1": "DOWN"}: "UP 1/2", a
        server up but one failed check from going down, is not "UP"); a failure after."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.server_states()
            if all(seen.get(name) == state for name, state in states.items()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"HAProxy's servers are {seen}, not {states} after {timeout} s")
            time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM (HAProxy's hard stop); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


def render_config(port: int, backends: Sequence[str], stats_socket: Path) -> str:
    """The config for a frontend on `port` over `backends` ("127.0.0.1:8001", ...)."""
    servers = "\n".join(f"    server s{i} {address} check" for i, address in enumerate(backends))
    return CONFIG.format(port=port, backend=BACKEND, servers=servers, socket=stats_socket)


@contextmanager
def running_haproxy(backends: Sequence[str], wait_up: bool = True) -> Iterator[HAProxy]:
    """HAProxy on 127.0.0.1 and a free port in front of `backends` ("127.0.0.1:8001", ...).

    Returns once HAProxy is listening and, with `wait_up`, once every backend has passed its
    health check. Stopped, and its directory removed, on exit.
    """
    binary = haproxy_binary()
    directory = Path(tempfile.mkdtemp(prefix="lstm-haproxy-"))
    port = free_port()
    config, log = directory / "haproxy.cfg", directory / "haproxy.log"
    config.write_text(render_config(port, backends, directory / "stats.sock"))
    with log.open("wb") as out:
        # Its own process group, so that bench/quiet.py can tell its CPU time from others'.
        process = subprocess.Popen(
            [binary, "-db", "-f", str(config)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    proxy = HAProxy(f"http://127.0.0.1:{port}", process, directory, log, directory / "stats.sock")
    try:
        _wait_until_started(proxy)
        if wait_up:
            proxy.wait_for({f"s{i}": "UP" for i in range(len(backends))}, timeout=START_TIMEOUT_S)
        yield proxy
    finally:
        try:
            proxy.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def _wait_until_started(proxy: HAProxy) -> None:
    """Until the stats socket answers: by then the frontend is bound (HAProxy binds its listeners
    while it reads the config, before it serves anything)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proxy.process.poll() is not None:
            pytest.fail(f"haproxy exited with {proxy.process.returncode}:\n{proxy.log.read_text()}")
        try:
            proxy.command("show info")
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"haproxy not started after {START_TIMEOUT_S} s:\n{proxy.log.read_text()}")
        time.sleep(0.05)
