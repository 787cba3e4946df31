"""Baselines for one-step-ahead forecasting of the yearly sunspot numbers (data/sunspots.csv).

Split: every target year up to 1920 trains, target years 1921..1987 test. Test windows may
reach back into training years for their inputs, as a forecaster standing in 1920 would.
The same windows, given to `model.data.from_arrays`, train the LSTM.

    python scripts/sunspot_baselines.py   # prints persistence and AR(9) test RMSE
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.data import make_windows, read_csv_series
from model.errors import InvalidInput

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "sunspots.csv"
LAST_TRAIN_YEAR = 1920
LAST_TEST_YEAR = 1987
AR_ORDER = 9

FloatArray = npt.NDArray[np.float32]
Windows = tuple[FloatArray, FloatArray, FloatArray, FloatArray]


def load_sunspots(
    path: str | Path = DEFAULT_PATH,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Read (years (rows,) int64, sunspot numbers (rows,) float64) from YEAR, SUNACTIVITY."""
    _, table = read_csv_series(path, ["YEAR", "SUNACTIVITY"])  # (rows, 2) float64
    years, values = table[:, 0].astype(np.int64), table[:, 1]
    if (np.diff(years) != 1).any():
        raise InvalidInput(f"{path}: YEAR must run in consecutive years", ("series",))
    return years, values


def window_split(
    years: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    window: int,
    last_train_year: int = LAST_TRAIN_YEAR,
    last_test_year: int = LAST_TEST_YEAR,
) -> Windows:
    """Cut one-step-ahead windows and split them by the year of their target.

    Returns (train_inputs (N, window, 1), train_targets (N, 1), test_inputs (M, window, 1),
    test_targets (M, 1)), float32. Training targets are the years <= last_train_year that have
    `window` earlier years; test targets are last_train_year < year <= last_test_year.
    """
    data = make_windows(values[:, None], window, horizon=1)  # inputs (rows - window, window, 1)
    target_years = years[window:]  # (rows - window,): sample i predicts years[i + window]
    train = target_years <= last_train_year
    test = (target_years > last_train_year) & (target_years <= last_test_year)
    for name, mask in (("train", train), ("test", test)):
        if not mask.any():
            raise InvalidInput(f"no {name} windows with window={window}", ("window",))
    return data.inputs[train], data.targets[train], data.inputs[test], data.targets[test]


def rmse(predictions: npt.ArrayLike, targets: npt.ArrayLike) -> float:
    error = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
    return float(np.sqrt(np.mean(error**2)))


def persistence_rmse(test_inputs: FloatArray, test_targets: FloatArray) -> float:
    """Predict next year = this year: the last step of each input window."""
    return rmse(test_inputs[:, -1, :], test_targets)  # (M, 1) vs (M, 1)


def fit_ar(train_inputs: FloatArray, train_targets: FloatArray) -> npt.NDArray[np.float64]:
    """Least-squares AR(window) with an intercept: returns (window + 1,), intercept first."""
    design = _design(train_inputs)  # (N, window + 1)
    coef, *_ = np.linalg.lstsq(design, train_targets[:, 0].astype(np.float64), rcond=None)
    return np.asarray(coef, dtype=np.float64)


def predict_ar(coef: npt.NDArray[np.float64], inputs: FloatArray) -> npt.NDArray[np.float64]:
    return np.asarray(_design(inputs) @ coef)[:, None]  # (M, 1)


def ar_rmse(windows: Windows) -> float:
    """Fit on the training windows, score on the test windows."""
    train_inputs, train_targets, test_inputs, test_targets = windows
    return rmse(predict_ar(fit_ar(train_inputs, train_targets), test_inputs), test_targets)


def _design(inputs: FloatArray) -> npt.NDArray[np.float64]:
    lags = inputs[:, :, 0].astype(np.float64)  # (N, window), oldest year first
    return np.hstack([np.ones((len(lags), 1)), lags])  # (N, window + 1)


def main() -> None:
    years, values = load_sunspots()
    windows = window_split(years, values, AR_ORDER)
    train_targets, test_targets = windows[1], windows[3]
    print(
        f"train: {len(train_targets)} targets {years[AR_ORDER]}..{LAST_TRAIN_YEAR}, "
        f"test: {len(test_targets)} targets {LAST_TRAIN_YEAR + 1}..{LAST_TEST_YEAR}"
    )
    print(f"persistence RMSE: {persistence_rmse(windows[2], test_targets):.2f}")
    print(f"AR({AR_ORDER}) RMSE:      {ar_rmse(windows):.2f}")


if __name__ == "__main__":
    main()
