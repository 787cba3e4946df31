"""Rebuild the shipped model `model/pretrained/sunspots.safetensors` reproducibly.

One-step-ahead forecast of the yearly sunspot number from the previous `window` years. Test
targets are 1921..1987; everything the model (and its hyperparameters) learn from comes from
years up to 1920:
1. choose the recipe on a holdout inside the training years: fit on targets <= 1870, score on
   1871..1920, mean RMSE over three seeds;
2. train the chosen recipe on every target year <= 1920 (seed 0) and score it on the test years,
   beside the persistence and AR(9) baselines computed here on the same split.

    python scripts/train_sunspots.py        # or: make pretrained
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sunspot_baselines import (  # noqa: E402
    AR_ORDER,
    Windows,
    ar_rmse,
    load_sunspots,
    persistence_rmse,
    rmse,
    window_split,
)

from model.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from model.config import LSTMConfig  # noqa: E402
from model.data import from_arrays  # noqa: E402
from model.torch_predictor import TorchPredictor  # noqa: E402
from model.train import TrainParams, train  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "model" / "pretrained" / "sunspots.safetensors"
HOLDOUT_LAST_TRAIN_YEAR = 1870
SELECTION_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Recipe:
    window: int
    hidden_size: int
    learning_rate: float
    batch_size: int
    epochs: int


CANDIDATES = (
    Recipe(window=9, hidden_size=32, learning_rate=0.01, batch_size=16, epochs=40),
    Recipe(window=12, hidden_size=32, learning_rate=0.01, batch_size=32, epochs=40),
    Recipe(window=10, hidden_size=32, learning_rate=0.003, batch_size=8, epochs=40),
    Recipe(window=12, hidden_size=32, learning_rate=0.003, batch_size=8, epochs=30),
)


def fit(recipe: Recipe, windows: Windows, seed: int) -> tuple[Checkpoint, float]:
    """Train on the windows' training part; return the checkpoint and its RMSE on the rest."""
    train_inputs, train_targets, test_inputs, test_targets = windows
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
    result = train(config, from_arrays(train_inputs, train_targets, "sunspots.csv"), params)
    lengths = np.full(len(test_inputs), recipe.window)
    predictions = TorchPredictor(result.checkpoint).predict(test_inputs, lengths).predictions
    return result.checkpoint, rmse(predictions, test_targets)


def choose_recipe(years: np.ndarray, values: np.ndarray) -> tuple[Recipe, dict[str, float]]:
    scores: dict[str, float] = {}
    for recipe in CANDIDATES:
        windows = window_split(years, values, recipe.window, HOLDOUT_LAST_TRAIN_YEAR, 1920)
        errors = [fit(recipe, windows, seed)[1] for seed in SELECTION_SEEDS]
        scores[json.dumps(asdict(recipe))] = float(np.mean(errors))
        print(f"holdout 1871-1920 RMSE {np.mean(errors):6.2f}  {recipe}", flush=True)
    best = min(scores, key=scores.__getitem__)
    return Recipe(**json.loads(best)), scores


def main() -> None:
    torch.manual_seed(0)
    years, values = load_sunspots()
    recipe, _ = choose_recipe(years, values)
    checkpoint, test_rmse = fit(recipe, window_split(years, values, recipe.window), seed=0)
    ar_windows = window_split(years, values, AR_ORDER)
    baselines = {
        "persistence": round(persistence_rmse(ar_windows[2], ar_windows[3]), 2),
        f"ar{AR_ORDER}": round(ar_rmse(ar_windows), 2),
    }
    evaluation = {
        "task": "yearly sunspot number, one step ahead",
        "train_years": "..1920",
        "test_years": "1921..1987",
        "window": recipe.window,
        "test_rmse": round(test_rmse, 2),
        "baseline_test_rmse": baselines,
        "recipe": asdict(recipe),
    }
    save_checkpoint(checkpoint.with_metadata(name="sunspots", evaluation=evaluation), OUT)
    print(f"chosen {recipe}")
    print(f"test RMSE 1921-1987: LSTM {test_rmse:.2f}, persistence {baselines['persistence']}, ", end="")
    print(f"AR({AR_ORDER}) {baselines[f'ar{AR_ORDER}']}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
