"""The FastAPI application: `create_app(settings)` and its lifespan, which opens the model
store, loads the model, settles the management token and starts the training-job runner before
the first request. Nothing happens at import; run it with `lstm-serve serve`, or
`uvicorn --factory app.main:create_app` (settings from LSTM_SERVE_*)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import anyio.to_thread
from fastapi import FastAPI
from starlette.routing import BaseRoute

from app.api.access_log import AccessLog, leaf_routes
from app.api.body_limit import BodySizeLimit
from app.api.errors import install_error_handlers
from app.api.predict_lane import PredictLane
from app.api.routes import (
    dashboard,
    datasets,
    forecast,
    health,
    models,
    operations,
    predict,
    sessions,
    train,
    v2,
)
from app.core.database import Database, open_database
from app.core.inference_keys import load_inference_keys
from app.core.settings import Settings, get_settings
from app.core.token import load_token_check
from app.observability.collector import startup_objects_frozen
from app.observability.metrics import Metrics
from app.registry.models import open_registry
from app.registry.watch import follow_active
from app.serving.batcher import batcher_for
from app.serving.checked_input import RequestLimits
from app.serving.services import Services
from app.serving.sessions import Clock, open_session_store
from app.training.datasets import DatasetQuota, DatasetStore
from app.training.runner import JobRunner, Launcher, launch_worker
from app.training.store import JobStore

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = time.time,
    launcher: Launcher = launch_worker,
) -> FastAPI:
    """`clock` times session expiry and `launcher` starts training workers; tests pass fakes
    instead of sleeping or spawning."""
    app = FastAPI(
        title="lstm-serve",
        version=version("lstm-serve"),
        summary="Predictions from LSTM sequence models over HTTP, and training jobs.",
        lifespan=lifespan,
        # Operation ids such as "predict-predict", as in full-stack-fastapi-template.
        generate_unique_id_function=lambda route: f"{route.tags[0]}-{route.name}",
        # FastAPI's own OpenTelemetry instrumentation, off: the service's observability is its
        # access log and Prometheus metrics, and merely finding that no OpenTelemetry provider
        # is configured cost every request 2.5% of the event loop's time (`make bench-path`).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings = settings or get_settings()
    app.state.clock = clock
    app.state.launcher = launcher
    app.state.stopping = lambda: False  # `lstm-serve serve` points it at uvicorn's flag
    for module in (health, predict, forecast, models, sessions, train, datasets, operations, v2):
        app.include_router(module.router)
    app.include_router(dashboard.router)  # the pages at / and /ui, outside the API schema
    # Middleware, innermost first: each one added wraps those before it.
    app.add_middleware(PredictLane, route=_route(app, predict.PREDICT_PATH))
    uploads = {"/v1/datasets": settings.max_dataset_bytes}
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        per_path=uploads,
        chunk_timeout_s=settings.body_timeout_seconds,
    )
    # Added last, so outermost: request ids, access lines and request metrics see every answer.
    app.state.metrics = Metrics(settings, lambda: getattr(app.state, "services", None))
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    install_error_handlers(app)
    return app


def _route(app: FastAPI, path: str) -> BaseRoute:
    (route,) = (route for route in leaf_routes(app.routes) if getattr(route, "path", None) == path)
    return route


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model (raising CheckpointError when it cannot) before serving anything."""
    settings: Settings = app.state.settings
    db = await anyio.to_thread.run_sync(open_database, settings.data_dir, settings.database_url)
    registry = await anyio.to_thread.run_sync(open_registry, settings, db)
    app.state.token_check = await anyio.to_thread.run_sync(load_token_check, settings)
    app.state.inference_keys = await anyio.to_thread.run_sync(load_inference_keys, settings)
    job_store = JobStore(settings.data_dir, db)
    jobs = JobRunner(job_store, registry, settings, app.state.launcher)
    session_store = await anyio.to_thread.run_sync(open_session_store, settings, app.state.clock)
    dataset_store = await anyio.to_thread.run_sync(_datasets, settings, db)
    await jobs.start()
    follower = asyncio.create_task(follow_active(registry))
    batcher = batcher_for(settings, on_batch=app.state.metrics.observe_batch)
    batcher.start()
    limits = RequestLimits.from_settings(settings)
    app.state.services = Services(registry, session_store, batcher, jobs, dataset_store, limits)
    active = registry.get(None)
    logger.info(
        "serving %s version %s (%s backend) from %s; sessions in %s",
        settings.model_name,
        active.version,
        settings.backend,
        db.describe(),
        session_store.describe(),
    )
    try:
        with startup_objects_frozen():
            yield
    finally:
        del app.state.services
        await batcher.close()  # answers every prediction it accepted
        await jobs.close()
        await session_store.close()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await anyio.to_thread.run_sync(db.close)
        del app.state.token_check, app.state.inference_keys


def _datasets(settings: Settings, db: Database) -> DatasetStore:
    quota = DatasetQuota(settings.max_datasets, settings.max_datasets_bytes)
    store = DatasetStore(settings.data_dir, quota, db)
    store.remove_orphans()  # uploads that a crash cut short
    return store
