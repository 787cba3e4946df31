"""The fuzz suite's shared parts (tests/fuzz): one app per test module, driven through httpx's ASGI
transport by every example hypothesis makes (an app per example would cost half a second each);
the settings that keep the suite well under a minute; and the properties every answer has."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, settings

from app.core.settings import Settings
from app.main import create_app, lifespan
from tests.support.bad_requests import LIMITS, TOKEN
from tests.support.checkpoints import write_checkpoint

# deadline None: the first examples also warm the model up. The only function-scoped fixture
# is tests/conftest.py's clean environment, which no example changes.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
AUTH = {"authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def app_client(tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The small model of tests/conftest.py under LIMITS, with its lifespan running."""
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("LSTM_SERVE_")]:
            env.delenv(name)
        config = Settings(
            model=write_checkpoint(tmp / "small.safetensors"),
            data_dir=tmp / "var",
            api_token=TOKEN,  # type: ignore[arg-type]  # pydantic makes the SecretStr
            **LIMITS,
        )
    app = create_app(config)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def check_answer(response: httpx.Response, *, valid: bool = False) -> None:
    """Never a 5xx; a valid request succeeds; an error has the shape of its API: /v1's
    {"error": {"code", "message", "location"}}, the Open Inference Protocol's {"error": str}."""
    event(f"status {response.status_code}")  # pytest --hypothesis-show-statistics
    assert response.status_code < 500, response.text
    if valid:
        assert response.status_code in (200, 201), response.text
        return
    if response.status_code < 400:
        return
    body: Any = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    if response.request.url.path.startswith("/v2/"):
        assert isinstance(body["error"], str) and body["error"], body
        return
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "location"}, body
    assert isinstance(error["code"], str) and error["code"] != "internal_error", body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["location"], list), body
    assert all(isinstance(part, str | int) for part in error["location"]), body
