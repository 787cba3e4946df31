"""In-process stand-ins: training jobs run the real worker code (`app.training.worker.run_job`)
in a thread instead of a process, behind a gate that a test can close to keep jobs from starting
or finishing; a clock that tests move by hand."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import anyio.to_thread

from app.core.settings import Settings
from app.training.store import Job, JobStore
from app.training.worker import StopFlags, run_job


class InlineWorker:
    """A worker process's contract (wait, signals) around `run_job` in a thread. SIGUSR1 and
    SIGTERM set the same flags that the real worker's signal handlers set."""

    def __init__(self, data_dir: Path, job_id: str, gate: threading.Event) -> None:
        self.pid = os.getpid()
        self.signals: list[int] = []
        self.stop = StopFlags(os.getppid())
        self._gate = gate
        self._result = asyncio.ensure_future(anyio.to_thread.run_sync(self._run, data_dir, job_id))

    def _run(self, data_dir: Path, job_id: str) -> int:
        while not self._gate.wait(0.01):
            if self.stop():
                break
        return run_job(data_dir, job_id, None, self.stop)  # torch threads: the test process's

    async def wait(self) -> int:
        return await asyncio.shield(self._result)

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGUSR1:
            self.stop.cancelled = True
        else:
            self.stop.shutdown = True

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class InlineLauncher:
    def __init__(self) -> None:
        self.gate = threading.Event()  # set: jobs run; clear: they wait before training
        self.gate.set()
        self.workers: dict[str, InlineWorker] = {}

    async def __call__(self, job: Job, jobs: JobStore, settings: Settings) -> InlineWorker:
        worker = InlineWorker(jobs.data_dir, job.id, self.gate)
        self.workers[job.id] = worker
        return worker


class FakeClock:
    """Session expiry without sleeping: tests move time forward by hand. Each reading is also a
    microsecond after the last, as on a real clock: no two uses of a session store share a
    time, so least recently used is well defined."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
