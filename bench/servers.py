"""The servers under test, each its own process on 127.0.0.1 with its defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS = ROOT / ".venv" / "bin"
KSERVE_PYTHON = HERE / ".venv-kserve" / "bin" / "python"
TOKEN = "bench-token-0123456789abcdef"  # our management token, for the training job


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    # Processes whose CPU time is this server's too (HAProxy's replicas), by pid.
    serves_with: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start(name: str, command: list[str], port: int, ready: str, env: dict[str, str],
          log: Path) -> Server:  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=HERE, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = Server(name, port, process)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url + ready, timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"{name} not ready after 180 s: {log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    """SIGTERM to the server's process group (uvicorn's and KServe's workers too)."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def naive(checkpoint: Path, port: int, log: Path) -> Server:
    command = [str(OURS / "uvicorn"), "naive_server:app", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    return start("naive", command, port, "/docs", {"CHECKPOINT": str(checkpoint)}, log)


def kserve(checkpoint: Path, port: int, workers: int, one_thread: bool, log: Path) -> Server:
    """KServe's defaults, or one torch thread per worker (OMP_NUM_THREADS=1): with its default
    of one thread per core, two workers on two cores oversubscribe OpenMP and collapse."""
    command = [str(KSERVE_PYTHON), "kserve_server.py", str(checkpoint), "--http_port", str(port),
               "--grpc_port", str(port + 1), "--workers", str(workers)]  # fmt: skip
    env = {"OMP_NUM_THREADS": "1"} if one_thread else {}
    return start(f"kserve-{workers}", command, port, "/v2/models/lstm/ready", env, log)


def ours(checkpoint: Path, port: int, workers: int, data_dir: Path, log: Path) -> Server:
    """`lstm-serve serve` with its defaults; `--workers N` for several (each worker its own
    SO_REUSEPORT socket on the port)."""
    env = {"LSTM_SERVE_API_TOKEN": TOKEN, "LSTM_SERVE_DATA_DIR": str(data_dir)}
    command = [str(OURS / "lstm-serve"), "serve", "--model", str(checkpoint), "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    return start(f"lstm-serve-{workers}", command, port, "/readyz", env, log)


def replica(checkpoint: Path, port: int, name: str, shared: dict[str, str], data_dir: Path,
            log: Path) -> Server:  # fmt: skip
    """One replica of a service on PostgreSQL and Redis (`shared`: their LSTM_SERVE_* URLs)."""
    env = {**shared, "LSTM_SERVE_API_TOKEN": TOKEN, "LSTM_SERVE_DATA_DIR": str(data_dir),
           "LSTM_SERVE_REPLICA_NAME": name}  # fmt: skip
    command = [str(OURS / "lstm-serve"), "serve", "--model", str(checkpoint), "--port", str(port)]
    return start(f"lstm-serve {name}", command, port, "/readyz", env, log)
