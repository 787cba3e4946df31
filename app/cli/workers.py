"""`lstm-serve serve --workers N`: N server processes on one host behind one port.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections evenly over them (processes that share one socket instead race for each accept,
and one of them can take nearly all). Everything the workers must agree on lives outside their
memory: the database and the files of the data directory (models, jobs, the active version, the
token) and the session store. This process only supervises: it reserves the port, starts the
workers, restarts one that dies, and forwards SIGTERM/SIGINT for a graceful stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType

from app.core.settings import Settings

logger = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0  # between a worker's death and its replacement
STOP_MARGIN_S = 15.0  # beyond the graceful shutdown time, before a worker is killed
_PR_SET_PDEATHSIG = 1

# Runs one worker's server on a bound, listening socket; calls `on_ready` once it serves.
ServeOnSocket = Callable[[Settings, socket.socket, Callable[[], None]], int]


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (and SO_REUSEADDR): every worker binds
    one of its own on the same port. Not listening: `listen` makes it take connections."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def worker_settings(settings: Settings, index: int, port: int) -> Settings:
    """Worker `index`'s settings: the reserved port and a replica name of its own."""
    base = settings.replica_name or socket.gethostname()
    return settings.model_copy(update={"port": port, "replica_name": f"{base}-{index}"})


def supervise(settings: Settings, serve_on_socket: ServeOnSocket) -> int:
    """Start `settings.workers` workers and keep them running until SIGTERM or SIGINT; the
    process's exit status (1 when a worker could not start)."""
    # Bound, never listening: it holds the port (port 0: picks one) and fails early when the
    # port is taken by a process without SO_REUSEPORT.
    reserved = reuse_port_socket(settings.host, settings.port)
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state forked
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start(index: int) -> tuple[SpawnProcess, Event]:
        ready = context.Event()
        process = context.Process(
            target=_worker_main,
            args=(worker_settings(settings, index, port), ready, serve_on_socket),
            name=f"lstm-serve worker {index}",
        )
        process.start()
        return process, ready

    workers = {index: start(index) for index in range(1, settings.workers + 1)}
    try:
        if not _all_ready(workers, lambda: stopping):
            return 1
        logger.info("serving on %s:%d with %d workers", settings.host, port, settings.workers)
        while not stopping:
            time.sleep(0.2)
            for index, (process, _) in list(workers.items()):
                if process.exitcode is not None and not stopping:
                    logger.error(
                        "worker %d exited with status %s; starting another",
                        index,
                        process.exitcode,
                    )
                    time.sleep(RESTART_DELAY_S)
                    workers[index] = start(index)
        return 0
    finally:
        _stop_all([process for process, _ in workers.values()], settings)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()


def _all_ready(
    workers: dict[int, tuple[SpawnProcess, Event]], stopping: Callable[[], bool]
) -> bool:
    """Wait until every worker serves; False when one exited first (it said why on stderr)."""
    while not stopping():
        if any(process.exitcode is not None for process, _ in workers.values()):
            return False
        if all(ready.is_set() for _, ready in workers.values()):
            return True
        time.sleep(0.05)
    return False


def _stop_all(processes: list[SpawnProcess], settings: Settings) -> None:
    for process in processes:
        if process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.shutdown_timeout_seconds + STOP_MARGIN_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()


def _worker_main(settings: Settings, ready: Event, serve_on_socket: ServeOnSocket) -> None:
    """A worker process: its own process group (a terminal's Ctrl+C reaches the supervisor
    alone, which stops the workers once, gracefully), killed with the supervisor."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    sock = reuse_port_socket(settings.host, settings.port)
    sys.exit(serve_on_socket(settings, sock, ready.set))
