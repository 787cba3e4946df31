"""The pieces of forecasting in isolation: the split-conformal quantile and its coverage, the
naive forecasts and the season they use, and the histories and truths cut from windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.conformal import Calibration, coverage
from model.data import make_windows
from model.forecast import roll_forward
from model.naive_forecasts import estimate_season, persistence, seasonal_naive
from model.series_evaluation import series_histories, series_truth
from model.series_task import SeriesTask


def test_the_conformal_half_width_is_the_ceil_n_plus_1_level_order_statistic() -> None:
    residuals = np.arange(1.0, 20.0)[:, None, None]  # 19 origins, 1 step, 1 output: 1..19
    calibration = Calibration.from_residuals(-residuals, "test")
    [step] = calibration.steps
    assert step.half_width(50) == 10.0  # ceil(20 * 0.5) = 10th smallest
    assert step.half_width(80) == 16.0  # ceil(20 * 0.8) = 16
    assert step.half_width(95) == 19.0  # ceil(20 * 0.95) = 19 = n
    assert step.half_width(96) is None  # ceil(20 * 0.96) = 20 > n: no finite interval


def test_thinned_residuals_round_up_and_never_narrow() -> None:
    rng = np.random.default_rng(0)
    residuals = rng.normal(size=(1000, 1, 2))
    calibration = Calibration.from_residuals(residuals, "test")
    [step] = calibration.steps
    assert len(step.ranks) <= 100 and step.ranks[-1] == 1000
    exact = np.sort(np.abs(residuals[:, 0]), axis=0)
    for level in (10, 50, 80, 90, 95, 99):
        k = math.ceil(1001 * level / 100)
        width = step.half_width(level)
        assert width is not None
        assert np.all(width >= exact[k - 1]) and np.all(width <= exact[min(k + 10, 999)])
    restored = Calibration.from_dict(calibration.to_dict())
    assert np.array_equal(restored.steps[0].values, step.values)


def test_steps_ahead_keep_their_own_counts() -> None:
    residuals = np.ones((5, 3, 1))
    residuals[3:, 1] = np.nan  # two origins too late for step 2
    residuals[1:, 2] = np.nan
    calibration = Calibration.from_residuals(residuals, "test")
    assert [step.count for step in calibration.steps] == [5, 3, 1]
    bands = calibration.intervals(np.zeros((3, 1)), [50.0, 80.0])
    assert len(bands[50.0][0]) == 3  # ceil(2 * 0.5) = 1 <= 1 at step 3
    assert len(bands[80.0][0]) == 1  # ceil(4 * 0.8) = 4 > 3 at step 2


def test_coverage_on_exchangeable_residuals_is_near_the_level() -> None:
    residuals = np.random.default_rng(1).normal(size=(4000, 2, 1))
    found = coverage(residuals, [80.0, 95.0])
    assert found["80"]["one_step"] == pytest.approx(0.8, abs=0.02)
    assert found["95"]["all_steps"] == pytest.approx(0.95, abs=0.01)
    assert found["95"]["cases"] == 8000


def test_naive_forecasts() -> None:
    history = np.arange(10.0).reshape(1, 10, 1)  # rows 0..9
    assert persistence(history, [0], 3)[0, :, 0].tolist() == [9.0, 9.0, 9.0]
    # season 4: steps 1..6 repeat rows 6, 7, 8, 9, 6, 7
    assert seasonal_naive(history, [0], 6, 4)[0, :, 0].tolist() == [6, 7, 8, 9, 6, 7]


def test_the_season_of_a_periodic_series_is_its_period() -> None:
    t = np.arange(600)
    noisy = np.sin(2 * np.pi * t / 11) + np.random.default_rng(2).normal(0, 0.2, 600)
    assert estimate_season(noisy, 24) == 11
    assert estimate_season(noisy, 8) is None  # longer than what a forecast may read
    assert estimate_season(np.random.default_rng(3).normal(size=600), 24) is None


def test_histories_and_truths_are_cut_from_the_windows() -> None:
    series = np.arange(50.0)
    data = make_windows(series, 5, horizon=2)  # window i: rows i..i+4, target row i+6
    task = SeriesTask(5, 2, (0,), (0,))
    origins = np.array([1, 10, 42])  # window 42 is the last one (50 - 5 - 2 + 1 = 44 windows)
    histories = series_histories(data, origins, task)
    assert histories[:, :, 0].tolist() == [list(range(i, i + 6)) for i in (0, 9, 41)]
    truth = series_truth(data, origins, task, 4)
    # the value s steps after origin i's last row (i + 4 + s), NaN past row 49
    assert truth[1, :, 0].tolist() == [15.0, 16.0, 17.0, 18.0]
    assert truth[2, :3, 0].tolist() == [47.0, 48.0, 49.0] and math.isnan(truth[2, 3, 0])


def test_a_rollout_feeds_each_input_column_from_its_target() -> None:
    """Two columns predicted in swapped order: the feedback puts each back in its place."""
    task = SeriesTask(2, 1, ("a", "b"), ("b", "a"))
    history = np.array([[[1.0, 10.0], [2.0, 20.0]]])

    def predict(windows: np.ndarray) -> np.ndarray:  # next row = last row + 1, as (b, a)
        last = windows[:, -1]
        return np.stack([last[:, 1] + 1, last[:, 0] + 1], axis=1)

    paths = roll_forward(predict, history, task, 3)
    assert paths[0].tolist() == [[21.0, 3.0], [22.0, 4.0], [23.0, 5.0]]
    assert SeriesTask(2, 1, ("a", "b"), ("b",)).unforecastable() is not None
