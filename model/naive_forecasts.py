"""The forecasts any model must beat: persistence (the last value, repeated) and seasonal naive
(the value one season earlier), from the same histories the model forecasts from."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# An autocorrelation peak below this is noise, not a season.
MIN_SEASON_CORRELATION = 0.3


def persistence(histories: FloatArray, target_inputs: list[int], steps: int) -> FloatArray:
    """(N, steps, O): each history's last row of the target columns, at every step."""
    last = histories[:, -1, target_inputs]  # (N, O)
    return np.repeat(last[:, None, :], steps, axis=1)


def seasonal_naive(
    histories: FloatArray, target_inputs: list[int], steps: int, season: int
) -> FloatArray:
    """(N, steps, O): step s (1-based) repeats the row s - season * ceil(s / season) rows from
    the history's end, the same point of the last season seen. Needs season <= L."""
    length = histories.shape[1]
    s = np.arange(1, steps + 1)
    rows = length - 1 + s - season * np.ceil(s / season).astype(int)  # (steps,)
    return histories[:, rows][:, :, target_inputs]


def estimate_season(values: FloatArray, longest: int) -> int | None:
    """The season of a series (rows,): the lag of the first autocorrelation peak after the
    autocorrelation first turns negative, at most `longest`; None when there is none or it is
    below MIN_SEASON_CORRELATION."""
    centred = values - values.mean()
    variance = float(np.dot(centred, centred))
    longest = min(longest, len(values) // 2)
    if variance == 0.0 or longest < 2:
        return None
    correlations = np.array(
        [np.dot(centred[:-lag], centred[lag:]) / variance for lag in range(1, longest + 1)]
    )  # correlations[k] is lag k + 1
    negative = np.flatnonzero(correlations < 0)
    if len(negative) == 0:
        return None
    after = negative[0]
    best = after + int(np.argmax(correlations[after:]))
    if correlations[best] < MIN_SEASON_CORRELATION:
        return None
    return int(best) + 1
