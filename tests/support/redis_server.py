"""A throwaway Redis server for the tests: `redis-server` on 127.0.0.1 and a free port, no
persistence, in a fresh directory; `restart()` loses its data, as a Redis without persistence
does. scripts/system-packages.sh installs the binary (Debian package redis-server)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.servers import free_port

START_TIMEOUT_S = 20
MISSING = "redis-server was not found: run scripts/system-packages.sh (Debian package redis-server)"


class RedisServer:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(MISSING)
        self.process = subprocess.Popen(
            [
                binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir",
                str(self.directory), "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.directory / "redis.log").read_text(errors="replace")
                    pytest.fail(f"redis-server did not start: {error}\n{log}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Killed and started again on the same port: every key is gone."""
        self.stop()
        self.start()


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    directory = Path(tempfile.mkdtemp(prefix="lstm-serve-redis-"))
    server = RedisServer(directory, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the whole session; tests that use it flush it first."""
    with running_redis() as server:
        yield server
