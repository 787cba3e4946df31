"""Forecasting by rolling a series model forward: each prediction is fed back as the input row
of its step, and the next window reads it.

A model of horizon h predicts the row h steps after its window. From a history that ends at row
t, steps t+1 .. t+h come from the h windows that end at rows t+1-h .. t, all known; the next
block of h steps reads those forecasts, and so on: block by block. For h = 1 this is the usual
one step at a time."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import numpy.typing as npt

from model.errors import InvalidInput
from model.inference import Predictor
from model.series_task import SeriesTask

FloatArray = npt.NDArray[np.float64]
# Windows (M, window, F) in user units -> predictions (M, output_size) in user units.
PredictWindows = Callable[[FloatArray], FloatArray]
_CHUNK = 1024  # windows per model call: bounds memory when many forecasts roll at once


def rollout(
    histories: FloatArray, task: SeriesTask, steps: int
) -> Generator[FloatArray, FloatArray, FloatArray]:
    """The windows of each block, sent out; their predictions are sent back in; returns the
    paths (N, steps, output_size). `histories`: (N, L, F), L >= task.min_history. A generator,
    so that one rollout serves a plain function (`roll_forward`) and the server's batcher."""
    n, length, features = histories.shape
    if length < task.min_history:
        raise InvalidInput(
            f"the history has {length} steps; this model needs at least {task.min_history} "
            f"(window {task.window}" + (f", horizon {task.horizon})" if task.horizon > 1 else ")"),
            ("history",),
        )
    window, horizon, feedback = task.window, task.horizon, task.feedback()
    rows = np.empty((n, length + steps, features))  # the history, then the forecasts
    rows[:, :length] = histories
    paths = np.empty((n, steps, len(task.target_columns)))
    for start in range(0, steps, horizon):
        block = range(start, min(start + horizon, steps))
        # Step s (0-based) is row length + s; its window ends `horizon` rows earlier.
        ends = [length + s - horizon + 1 for s in block]
        windows = np.stack([rows[:, end - window : end] for end in ends], axis=1)  # (N, B, W, F)
        predicted = yield windows.reshape(-1, window, features)
        predicted = np.asarray(predicted, dtype=np.float64).reshape(n, len(block), -1)
        paths[:, block.start : block.stop] = predicted
        rows[:, length + block.start : length + block.stop] = predicted[:, :, feedback]
    return paths


def roll_forward(
    predict: PredictWindows, histories: FloatArray, task: SeriesTask, steps: int
) -> FloatArray:
    """The forecast paths (N, steps, output_size) of `histories` (N, L, F)."""
    run = rollout(histories, task, steps)
    try:
        windows = next(run)
        while True:
            windows = run.send(predict(windows))
    except StopIteration as done:
        paths: FloatArray = done.value
        return paths


def windows_predictor(predictor: Predictor) -> PredictWindows:
    """A predictor's `PredictWindows`, every window whole, `_CHUNK` windows per call."""

    def predict(windows: FloatArray) -> FloatArray:
        parts = []
        for start in range(0, len(windows), _CHUNK):
            chunk = windows[start : start + _CHUNK].astype(np.float32)
            lengths = np.full(len(chunk), chunk.shape[1], dtype=np.int64)
            parts.append(predictor.predict(chunk, lengths).predictions)
        return np.concatenate(parts)

    return predict
