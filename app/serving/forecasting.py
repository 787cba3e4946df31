"""`POST /v1/forecast`: a series model rolled forward from a history (model/forecast.py), every
model call through the batcher like any prediction, with the conformal intervals its checkpoint
was calibrated for (model/conformal.py)."""

from __future__ import annotations

import anyio.to_thread
import numpy as np

from app.core.errors import LimitExceeded
from app.core.settings import Settings
from app.protocol.v1.forecast import ForecastRequest, ForecastResponse, Interval
from app.protocol.v1.schemas import ModelRef
from app.registry.models import LoadedModel
from app.serving.batch import Batch
from app.serving.pipeline import model_for
from app.serving.services import Services
from model.conformal import checkpoint_intervals, level_key
from model.data import series_array
from model.errors import InvalidInput
from model.forecast import FloatArray, rollout
from model.series_task import SeriesTask, forecasting_task

# Histories longer than this are converted off the event loop.
_INLINE_ROWS = 2048


async def forecast(
    request: ForecastRequest, services: Services, settings: Settings
) -> ForecastResponse:
    if request.horizon > settings.max_forecast_horizon:
        raise InvalidInput(
            f"horizon is {request.horizon}; this server forecasts at most "
            f"{settings.max_forecast_horizon} steps (MAX_FORECAST_HORIZON)",
            ("horizon",),
        )
    if len(request.history) > services.limits.max_sequence_steps:
        raise LimitExceeded(
            f"the history has {len(request.history)} steps; at most "
            f"{services.limits.max_sequence_steps} per sequence",
            ("history",),
        )
    if len(request.history) > _INLINE_ROWS:
        history = await anyio.to_thread.run_sync(series_array, request.history, "history")
    else:
        history = series_array(request.history, "history")  # (T, F)
    model = await model_for(services.registry, request.model_version)
    task = series_task(model)
    features = model.predictor.config.input_size
    if history.shape[1] != features:
        raise InvalidInput(
            f"each history row needs {features} values (the model's inputs "
            f"{', '.join(str(column) for column in task.input_columns)}), got {history.shape[1]}",
            ("history", 0),
        )
    path = await _roll(model, services, history.astype(np.float64), task, request.horizon)
    intervals, note = _intervals(model, path, request.levels)
    return ForecastResponse(
        model=ModelRef(name=settings.model_name, version=model.version),
        forecast=path.tolist(),
        intervals=intervals,
        note=note,
    )


def series_task(model: LoadedModel) -> SeriesTask:
    """The model's series task, when it can forecast; InvalidInput at model_version otherwise."""
    try:
        return forecasting_task(model.predictor.checkpoint.metadata)
    except InvalidInput as exc:
        raise InvalidInput(
            f"model version {model.version}: {exc.message}", ("model_version",)
        ) from exc


async def _roll(
    model: LoadedModel, services: Services, history: FloatArray, task: SeriesTask, horizon: int
) -> FloatArray:
    """(horizon, output_size): the path, each block of windows one call through the batcher."""
    run = rollout(history[None], task, horizon)
    try:
        windows = next(run)
        while True:
            lengths = np.full(len(windows), task.window, dtype=np.int64)
            batch = Batch(windows.astype(np.float32), lengths, None, False)
            prediction = await services.batcher.predict(model.predictor, batch)
            windows = run.send(prediction.predictions)
    except StopIteration as done:
        path: FloatArray = done.value[0]
        return path


def _intervals(
    model: LoadedModel, path: FloatArray, levels: list[float]
) -> tuple[dict[str, Interval], str | None]:
    bands, note = checkpoint_intervals(model.predictor.checkpoint.metadata, path, levels)
    intervals = {
        level_key(level): Interval(lower=lower.tolist(), upper=upper.tolist())
        for level, (lower, upper) in bands.items()
    }
    return intervals, note
