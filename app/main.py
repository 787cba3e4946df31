"""The FastAPI application: `create_app(settings)` and its lifespan, which opens the model
store and loads the model before the first request. Nothing happens at import; run it with
`lstm-serve serve`, or `uvicorn --factory app.main:create_app` (settings from LSTM_SERVE_*)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import anyio.to_thread
from fastapi import FastAPI

from app.config import Settings, get_settings
from app.dependencies import Services
from app.errors import install_error_handlers
from app.limits import BodySizeLimit
from app.registry import open_registry
from app.routes import health, models, predict, sessions
from app.runner import ModelRunner
from app.sessions import Clock, SessionStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Clock = time.monotonic) -> FastAPI:
    """`clock` times session expiry; tests pass a fake one instead of sleeping."""
    app = FastAPI(
        title="lstm-serve",
        version=version("lstm-serve"),
        summary="Predictions from LSTM sequence models over HTTP.",
        lifespan=lifespan,
        # Operation ids such as "predict-predict", as in full-stack-fastapi-template.
        generate_unique_id_function=lambda route: f"{route.tags[0]}-{route.name}",
    )
    app.state.settings = settings or get_settings()
    app.state.clock = clock
    app.add_middleware(BodySizeLimit, max_bytes=app.state.settings.max_body_bytes)
    install_error_handlers(app)
    for module in (health, predict, models, sessions):
        app.include_router(module.router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model (raising CheckpointError when it cannot) before serving anything."""
    settings: Settings = app.state.settings
    registry = await anyio.to_thread.run_sync(open_registry, settings)
    session_store = SessionStore(
        settings.session_ttl_seconds, settings.max_sessions, app.state.clock
    )
    app.state.services = Services(registry, session_store, ModelRunner(settings.inference_threads))
    active = registry.get(None)
    logger.info(
        "serving %s version %s (%s backend)", settings.model_name, active.version, settings.backend
    )
    try:
        yield
    finally:
        del app.state.services
