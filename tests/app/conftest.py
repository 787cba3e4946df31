"""In-process fixtures: the app with its lifespan running, reached through httpx's ASGI
transport, on a temporary data directory and a small random checkpoint. Training jobs run the
real worker code (`app.job_worker.run_job`) in a thread instead of a process, behind a gate
that a test can close to keep jobs from starting or finishing."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.dependencies import Services
from app.job_store import Job, JobStore
from app.job_worker import StopFlags, run_job
from app.main import create_app, lifespan
from tests.bad_requests import LIMITS, TOKEN


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
    """Session expiry without sleeping: tests move time forward by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings must come from the test, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("LSTM_SERVE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def launcher() -> InlineLauncher:
    return InlineLauncher()


@pytest.fixture
def settings(tmp_path: Path, small_checkpoint: Path) -> Settings:
    return Settings(
        model=small_checkpoint,
        data_dir=tmp_path / "var",
        session_ttl_seconds=60,
        max_sessions=3,
        api_token=TOKEN,  # type: ignore[arg-type]  # pydantic makes the SecretStr
        **LIMITS,
    )


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, launcher: InlineLauncher
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock, launcher=launcher)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services
