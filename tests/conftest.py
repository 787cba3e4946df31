"""Shared fixtures: small random checkpoints, and the app with its lifespan running, reached
through httpx's ASGI transport, on a temporary data directory (tests/integration starts real
servers instead)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.main import create_app, lifespan
from app.serving.services import Services
from tests.support.bad_requests import LIMITS, TOKEN
from tests.support.checkpoints import write_checkpoint
from tests.support.inprocess import FakeClock, InlineLauncher

# Session-scoped servers, started on first use by the tests that need them.
pytest_plugins = ["tests.support.postgres_server", "tests.support.redis_server"]


@pytest.fixture
def small_checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "small.safetensors", seed=0)


@pytest.fixture
def other_checkpoint(tmp_path: Path) -> Path:
    """A second model of the same architecture, with different weights."""
    return write_checkpoint(tmp_path / "other.safetensors", seed=1)


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
