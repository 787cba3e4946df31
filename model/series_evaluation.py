"""How a series model forecasts on data it did not train on: from origins in the validation
split it rolls forward up to `CALIBRATION_STEPS` steps, beside the persistence and
seasonal-naive forecasts of the same histories. The residuals calibrate the conformal intervals
(model/conformal.py) and the errors say whether the model beats the obvious."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from model.conformal import Calibration, coverage
from model.data import Samples
from model.forecast import FloatArray, PredictWindows, roll_forward
from model.naive_forecasts import estimate_season, persistence, seasonal_naive
from model.series_task import SeriesTask

CALIBRATION_STEPS = 48  # steps ahead the intervals are calibrated for
MAX_ORIGINS = 1000  # the latest validation windows: bounds the time and memory it takes
COVERAGE_LEVELS = [80.0, 95.0]
SEASON_SAMPLE = 20_000  # targets the season is estimated from, at most
Rows = npt.NDArray[np.intp]  # sample indices


def series_histories(data: Samples, origins: Rows, task: SeriesTask) -> FloatArray:
    """(N, window + horizon - 1, F): the rows up to each origin window's last row. Window i
    holds rows i .. i + window - 1, so the history of origin i is window i - horizon + 1 and
    the last row of each window after it."""
    back = task.horizon - 1
    rows = (origins[:, None] + np.arange(-back, 1)).ravel()  # (N * horizon,)
    windows = data.batch(rows)[0].astype(np.float64)
    windows = windows.reshape(len(origins), task.horizon, task.window, -1)  # (N, h, W, F)
    return np.concatenate([windows[:, 0], windows[:, 1:, -1]], axis=1)


def series_truth(data: Samples, origins: Rows, task: SeriesTask, steps: int) -> FloatArray:
    """(N, steps, O): the true value s steps after each origin, NaN past the data's end. It is
    the target of window origin + s - horizon."""
    wanted = origins[:, None] + np.arange(1, steps + 1) - task.horizon  # (N, steps)
    known = wanted < len(data)
    rows = np.unique(wanted[known])
    _, targets = data.batch(rows)
    if targets.ndim == 3:  # per-step targets: the last step's is the window's own target
        targets = targets[:, -1]
    truth = np.full((*wanted.shape, targets.shape[-1]), np.nan)
    truth[known] = targets[np.searchsorted(rows, wanted[known])]
    return truth


def evaluate_forecasts(
    predict: PredictWindows,
    data: Samples,
    validation: Rows,
    task: SeriesTask,
) -> tuple[Calibration, dict[str, Any]]:
    """The calibration, and the errors (MSE, user units) of the model, persistence and
    seasonal naive one step and up to CALIBRATION_STEPS steps ahead, with the intervals'
    coverage. `validation`: the indices of the validation windows."""
    origins = np.sort(validation[validation >= task.horizon - 1])[-MAX_ORIGINS:]
    steps = CALIBRATION_STEPS
    histories = series_histories(data, origins, task)
    truth = series_truth(data, origins, task, steps)
    forecasts = {"model": roll_forward(predict, histories, task, steps)}
    forecasts["persistence"] = persistence(histories, task.target_inputs(), steps)
    season = _season(data, origins, task)
    if season is not None:
        forecasts["seasonal_naive"] = seasonal_naive(histories, task.target_inputs(), steps, season)
    residuals = truth - forecasts["model"]
    calibration = Calibration.from_residuals(residuals, "the job's validation split")
    reached = len(calibration.steps)
    errors = {
        name: _mse(truth[:, :reached] - path[:, :reached]) for name, path in forecasts.items()
    }
    evaluation = {
        "origins": len(origins),
        "steps": reached,
        "mse_one_step": {name: error[0] for name, error in errors.items()},
        "mse_all_steps": {name: error[1] for name, error in errors.items()},
        "season": season,
        "season_note": None
        if season is not None
        else "no season found in the training data "
        f"within {histories.shape[1]} steps (the history a forecast reads): no seasonal naive",
        "coverage": coverage(residuals[:, :reached], COVERAGE_LEVELS),
    }
    return calibration, evaluation


def series_metadata(
    task: SeriesTask, predict: PredictWindows, data: Samples, validation: Rows | None
) -> dict[str, Any]:
    """What a series model's checkpoint records: its task; with validation windows to forecast
    from (and a model that can roll forward), the calibration of its intervals, and under
    "forecast" the errors beside the naive forecasts' (for the job's metrics)."""
    if validation is None or task.unforecastable() is not None:
        return {"task": task.to_dict()}
    calibration, evaluation = evaluate_forecasts(predict, data, validation, task)
    return {"task": task.to_dict(), "calibration": calibration.to_dict(), "forecast": evaluation}


def _season(data: Samples, origins: Rows, task: SeriesTask) -> int | None:
    """The first target's season, from the targets of the windows before the first origin (the
    training part when the validation split is the last one)."""
    end = int(origins[0]) if len(origins) else len(data)
    rows = np.arange(max(0, end - SEASON_SAMPLE), end)
    if len(rows) < 4:
        return None
    _, targets = data.batch(rows)
    values = (targets[:, -1] if targets.ndim == 3 else targets)[:, 0].astype(np.float64)
    return estimate_season(values, task.min_history)


def _mse(errors: FloatArray) -> tuple[float | None, float | None]:
    """(one step, every step) mean squared error over the known (non-NaN) cases."""
    first, every = errors[:, :1], errors
    return _mean_square(first), _mean_square(every)


def _mean_square(errors: FloatArray) -> float | None:
    known = errors[~np.isnan(errors)]
    return float(np.mean(known**2)) if known.size else None
