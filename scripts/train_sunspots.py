"""Rebuild the shipped model `model/pretrained/sunspots.safetensors` reproducibly.

One-step-ahead forecast of the yearly sunspot number from the previous `window` years. Test
targets are 1921..1987; everything the model and its hyperparameters learn from comes from
target years up to 1920:
1. choose the recipe on three validation folds cut from the training years, each scored by RMSE
   and averaged over three seeds; the recipe with the lowest mean over the folds wins:
   - "1821-1870": fit on targets <= 1820, score 1821..1870 (rolling origin);
   - "1871-1920": fit on targets <= 1870, score 1871..1920 (rolling origin);
   - "above 100": fit on the windows that stay <= 100 throughout, score the windows whose last
     input or target is above 100. It asks what the rolling folds cannot: how well the model
     forecasts above the levels it was trained on. A forecaster in 1920 has reason to ask it:
     the highest peak so far was beaten by over 25% in 1727 and again in 1778, and the LSTM's
     state is bounded (tanh), so it levels off above the range it has seen;
2. train the chosen recipe on every target year <= 1920 (seed 0) and score it on the test years,
   beside the persistence and AR(9) baselines computed here on the same split;
3. calibrate its prediction intervals (model/conformal.py) on forecasts it could not have
   seen: the chosen recipe fit on the years before each rolling-origin fold (seed 0) forecasts
   up to CALIBRATION_STEPS years ahead from every year of its fold, and each (origin, step)
   whose truth is a training year (<= 1920) gives a residual. Those models learnt from fewer
   years than the shipped one, so if anything the intervals are wide. Their coverage on the
   test years, which no step used, is recorded beside the RMSE.

A recipe may add amplitude-scaled copies of its training windows (inputs and target times a
factor, e.g. 1.25): the cycles differ mostly in height, so the copies show the model the same
dynamics at levels the data has not reached yet. Whether any copies help is up to the folds.

    python scripts/train_sunspots.py        # or: make pretrained
"""

from __future__ import annotations

import itertools
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sunspot_baselines import (
    AR_ORDER,
    FloatArray,
    Windows,
    ar_rmse,
    load_sunspots,
    persistence_rmse,
    rmse,
    window_split,
)

from model.checkpoint import Checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.conformal import Calibration, level_key
from model.data import from_arrays
from model.forecast import roll_forward, windows_predictor
from model.series_evaluation import CALIBRATION_STEPS
from model.series_task import SeriesTask
from model.torch_predictor import TorchPredictor
from model.torch_trainer import train_torch as train
from model.train_loop import TrainParams

OUT = Path(__file__).resolve().parents[1] / "model" / "pretrained" / "sunspots.safetensors"
SELECTION_SEEDS = (0, 1, 2)
FINAL_SEED = 0
COLUMN = "SUNACTIVITY"  # data/sunspots.csv's series, what the model reads and predicts
COVERAGE_LEVELS = (80.0, 95.0)
WORKERS = 2  # selection runs in parallel, one torch thread each; results do not depend on it


@dataclass(frozen=True)
class Recipe:
    window: int
    learning_rate: float
    epochs: int
    amplitudes: tuple[float, ...] = ()  # scaled copies of the training windows; () = none
    hidden_size: int = 32
    batch_size: int = 16


# Windows of one and one-and-a-half 11-year cycles; a cautious and a fast learning rate; short
# to long training (no early stopping: the epoch count is the stopping rule); no copies, copies
# on both sides of the data's level, or copies above it only.
CANDIDATES = tuple(
    Recipe(window, learning_rate, epochs, amplitudes)
    for amplitudes, window, learning_rate, epochs in itertools.product(
        ((), (0.8, 1.25), (1.25, 1.5)), (12, 18), (0.003, 0.01), (10, 20, 40)
    )
)


@cache
def sunspots() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    return load_sunspots()


def chronological_fold(last_fit_year: int, last_scored_year: int, window: int) -> Windows:
    """Fit on targets <= last_fit_year, score the targets after it up to last_scored_year."""
    return window_split(*sunspots(), window, last_fit_year, last_scored_year)


def range_fold(ceiling: float, window: int) -> Windows:
    """Fit on the training-year windows that stay <= ceiling (inputs and target); score those
    whose last input or target is above it: forecasting beyond the levels trained on."""
    inputs, targets, _, _ = window_split(*sunspots(), window)  # targets <= 1920 only
    fit = np.maximum(inputs[:, :, 0].max(axis=1), targets[:, 0]) <= ceiling
    scored = np.maximum(inputs[:, -1, 0], targets[:, 0]) > ceiling
    return inputs[fit], targets[fit], inputs[scored], targets[scored]


FOLDS: dict[str, Callable[[int], Windows]] = {
    "1821-1870": partial(chronological_fold, 1820, 1870),
    "1871-1920": partial(chronological_fold, 1870, 1920),
    "above 100": partial(range_fold, 100.0),
}


def with_amplitudes(
    inputs: FloatArray, targets: FloatArray, amplitudes: tuple[float, ...]
) -> tuple[FloatArray, FloatArray]:
    """The windows plus one copy per amplitude, inputs and target scaled alike."""
    factors = (1.0, *amplitudes)
    scaled_inputs = np.concatenate([inputs * factor for factor in factors])  # (N * k, T, 1)
    scaled_targets = np.concatenate([targets * factor for factor in factors])  # (N * k, 1)
    return scaled_inputs.astype(np.float32), scaled_targets.astype(np.float32)


def fit(recipe: Recipe, windows: Windows, seed: int) -> tuple[Checkpoint, float]:
    """Train on the windows' fitting part; return the checkpoint and its RMSE on the rest."""
    train_inputs, train_targets, scored_inputs, scored_targets = windows
    inputs, targets = with_amplitudes(train_inputs, train_targets, recipe.amplitudes)
    params = TrainParams(
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        validation_split=0.0,  # the recipe's epoch count is the stopping rule
        early_stopping_patience=None,
        seed=seed,
        num_threads=1,
    )
    config = LSTMConfig(input_size=1, hidden_size=recipe.hidden_size, output_size=1)
    result = train(config, from_arrays(inputs, targets, "sunspots.csv"), params)
    lengths = np.full(len(scored_inputs), recipe.window)
    predictions = TorchPredictor(result.checkpoint).predict(scored_inputs, lengths).predictions
    return result.checkpoint, rmse(predictions, scored_targets)


def fold_rmse(job: tuple[Recipe, str, int]) -> float:
    """One selection run, in a worker process: (recipe, fold name, seed) -> RMSE on the fold."""
    recipe, fold, seed = job
    return fit(recipe, FOLDS[fold](recipe.window), seed)[1]


def choose_recipe() -> tuple[Recipe, dict[str, float]]:
    """The candidate with the lowest RMSE averaged over folds and seeds, and its fold means."""
    jobs = list(itertools.product(CANDIDATES, FOLDS, SELECTION_SEEDS))
    # spawn, not fork: a forked child inherits torch's thread pools, which can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        errors = np.array(list(pool.map(fold_rmse, jobs)))
    per_fold = errors.reshape(len(CANDIDATES), len(FOLDS), len(SELECTION_SEEDS)).mean(axis=2)
    order = np.argsort(per_fold.mean(axis=1))
    print("selection RMSE, mean over seeds:", " / ".join(FOLDS), "-> mean")
    for index in order[:8]:
        folds = " / ".join(f"{value:5.2f}" for value in per_fold[index])
        print(f"  {folds} -> {per_fold[index].mean():5.2f}  {CANDIDATES[index]}")
    best = int(order[0])
    return CANDIDATES[best], dict(zip(FOLDS, per_fold[best].round(2).tolist(), strict=True))


def ar_fold_rmse() -> dict[str, float]:
    """AR(9) on the selection folds, for scale: the bar on each fold."""
    return {name: round(ar_rmse(make(AR_ORDER)), 2) for name, make in FOLDS.items()}


def forecast_residuals(
    checkpoint: Checkpoint, window: int, first: int, last: int, truth_until: int
) -> npt.NDArray[np.float64]:
    """(origins, CALIBRATION_STEPS, 1): truth - forecast from each origin whose next year is in
    first..last, the forecast rolled forward from the `window` years up to the origin; NaN
    where the truth is after `truth_until`."""
    years, values = sunspots()
    task = SeriesTask(window, 1, (COLUMN,), (COLUMN,))
    origins = np.flatnonzero((years + 1 >= first) & (years + 1 <= last))  # the last known row
    histories = np.stack([values[row - window + 1 : row + 1] for row in origins])[:, :, None]
    predict = windows_predictor(TorchPredictor(checkpoint))
    paths = roll_forward(predict, histories, task, CALIBRATION_STEPS)  # (N, S, 1)
    ahead = origins[:, None] + np.arange(1, CALIBRATION_STEPS + 1)  # (N, S) rows
    known = (ahead < len(years)) & (years[np.minimum(ahead, len(years) - 1)] <= truth_until)
    truth = np.where(known, values[np.minimum(ahead, len(values) - 1)], np.nan)
    return truth[:, :, None] - paths


def calibrate(recipe: Recipe) -> Calibration:
    """Residuals of the recipe fit on the years before each rolling-origin fold."""
    residuals = []
    for fold in ("1821-1870", "1871-1920"):
        first, last = (int(year) for year in fold.split("-"))
        fold_model, _ = fit(recipe, FOLDS[fold](recipe.window), FINAL_SEED)
        residuals.append(forecast_residuals(fold_model, recipe.window, first, last, 1920))
    source = (
        "rolling-origin folds 1821-1870 and 1871-1920, each forecast by the recipe fit on the "
        "years before it"
    )
    return Calibration.from_residuals(np.concatenate(residuals), source)


def coverage_on_test_years(
    checkpoint: Checkpoint, calibration: Calibration, window: int
) -> dict[str, dict[str, float]]:
    """How often the intervals cover the test years 1921..1987, one year ahead and 1..11
    years ahead (forecasts from 1920 on, truths up to 1987)."""
    errors = np.abs(forecast_residuals(checkpoint, window, 1921, 1987, 1987))[:, :11, 0]
    found = {}
    for level in COVERAGE_LEVELS:
        widths = np.array([_width(step.half_width(level)) for step in calibration.steps[:11]])
        known = ~np.isnan(errors)
        covered = errors <= widths
        found[level_key(level)] = {
            "one_year": round(float(covered[known[:, 0], 0].mean()), 3),
            "1_to_11_years": round(float(covered[known].mean()), 3),
        }
    return found


def _width(width: npt.NDArray[np.float64] | None) -> float:
    if width is None:
        raise SystemExit("too few calibration residuals for the coverage levels")
    return float(width[0])


def main() -> None:
    started = time.monotonic()
    recipe, fold_scores = choose_recipe()
    years, values = sunspots()
    checkpoint, test_rmse = fit(recipe, window_split(years, values, recipe.window), FINAL_SEED)
    ar_windows = window_split(years, values, AR_ORDER)
    baselines = {
        "persistence": round(persistence_rmse(ar_windows[2], ar_windows[3]), 2),
        f"ar{AR_ORDER}": round(ar_rmse(ar_windows), 2),
    }
    calibration = calibrate(recipe)
    evaluation = {
        "task": "yearly sunspot number, one step ahead",
        "train_years": "..1920",
        "test_years": "1921..1987",
        "window": recipe.window,
        "test_rmse": round(test_rmse, 2),
        "baseline_test_rmse": baselines,
        "interval_coverage_test": coverage_on_test_years(checkpoint, calibration, recipe.window),
        "recipe": asdict(recipe),
        "selection": {
            "rule": "lowest mean RMSE over the folds, each averaged over the seeds",
            "seeds": list(SELECTION_SEEDS),
            "candidates": len(CANDIDATES),
            "fold_rmse": fold_scores,
            f"ar{AR_ORDER}_fold_rmse": ar_fold_rmse(),
        },
    }
    task = SeriesTask(recipe.window, 1, (COLUMN,), (COLUMN,))
    described = checkpoint.with_metadata(
        name="sunspots", evaluation=evaluation, task=task.to_dict(),
        calibration=calibration.to_dict(),
    )  # fmt: skip
    save_checkpoint(described, OUT)
    print(f"chosen {recipe}; folds {fold_scores}")
    print(
        f"test RMSE 1921-1987: LSTM {test_rmse:.2f}, persistence {baselines['persistence']}, "
        f"AR({AR_ORDER}) {baselines[f'ar{AR_ORDER}']}"
    )
    print(f"interval coverage on the test years: {evaluation['interval_coverage_test']}")
    print(f"wrote {OUT} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
