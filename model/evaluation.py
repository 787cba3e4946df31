"""How a trained model is compared with the active one for `activate: if_better`: the mean
squared error in the user's units on the job's validation split (the one `split_data` gives for
the job's hyperparameters), computed for both through the backend-independent `Predictor`."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.config import LSTMConfig
from model.data import Samples
from model.inference import Predictor

_CHUNK = 1024  # sequences per model call: bounds memory on large validation sets


def validation_mse(predictor: Predictor, data: Samples) -> float:
    """Mean over samples and outputs (and steps, for per-step targets) of
    (prediction - target)^2, in user units."""
    total, count = 0.0, 0
    for inputs, targets in data.chunks(_CHUNK):  # (B, T, F), every sequence T steps long
        lengths = np.full(inputs.shape[0], inputs.shape[1], dtype=np.int64)
        answer = predictor.predict(inputs, lengths, return_steps=targets.ndim == 3)
        # (B, O), or every step's (B, T, O) for per-step targets
        predictions = np.stack(answer.steps) if answer.steps is not None else answer.predictions
        total += float(np.sum((predictions.astype(np.float64) - targets) ** 2))
        count += targets.size
    return total / count


def misfit(config: LSTMConfig, data: Samples) -> str | None:
    """Why a model cannot be compared on `data` (other input or output size), or None."""
    summary = data.summary()
    for name in ("input_size", "output_size"):
        if summary[name] != getattr(config, name):
            return f"it has {name} {getattr(config, name)}, the data {summary[name]}"
    return None


def baseline(version: str | None, predictor: Predictor | None, val: Samples) -> dict[str, Any]:
    """The active version's score on the validation data, or why it has none."""
    if version is None or predictor is None:
        return {"version": None, "val_mse": None, "reason": "no version was active"}
    problem = misfit(predictor.config, val)
    if problem is not None:
        return {"version": version, "val_mse": None, "reason": f"not comparable: {problem}"}
    return {"version": version, "val_mse": validation_mse(predictor, val), "reason": None}
