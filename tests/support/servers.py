"""A real `lstm-serve serve` process on 127.0.0.1 and a free port, reached over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

LSTM_SERVE = Path(sys.executable).with_name("lstm-serve")
START_TIMEOUT_S = 60.0


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path  # stdout and stderr: files, so a chatty server never blocks on a full pipe

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def stop(self) -> int:
        """SIGTERM, as a process manager would; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**settings: object) -> dict[str, str]:
    """This process's environment without LSTM_SERVE_* leftovers, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSTM_SERVE_")}
    env.update({f"LSTM_SERVE_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def run_serve(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `lstm-serve serve` to completion (for start-ups that must fail)."""
    return subprocess.run(
        [str(LSTM_SERVE), "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@contextmanager
def running_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    command = [str(LSTM_SERVE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env or clean_env(),
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, data_dir, log)
    try:
        wait_until_ready(server)
        yield server
    finally:
        server.stop()


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"server exited with {server.process.returncode}:\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready after {START_TIMEOUT_S} s:\n{server.log.read_text()}")
