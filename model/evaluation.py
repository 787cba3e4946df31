"""How a trained model is compared with the active one for `activate: if_better`: the mean
squared error in the user's units on the job's validation split (the one `split_data` gives for
the job's hyperparameters), computed for both through the backend-independent `Predictor`."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.config import LSTMConfig
from model.data import SequenceData
from model.inference import Predictor

_CHUNK = 1024  # sequences per model call: bounds memory on large validation sets


def validation_mse(predictor: Predictor, data: SequenceData) -> float:
    """Mean over samples and outputs of (prediction - target)^2, in user units."""
    total = 0.0
    steps = data.inputs.shape[1]
    for start in range(0, len(data), _CHUNK):
        x = data.inputs[start : start + _CHUNK]  # (B, T, F), every sequence T steps long
        lengths = np.full(x.shape[0], steps, dtype=np.int64)
        predictions = predictor.predict(x, lengths).predictions.astype(np.float64)  # (B, O)
        errors = predictions - data.targets[start : start + _CHUNK].astype(np.float64)
        total += float(np.sum(errors**2))
    return total / data.targets.size


def misfit(config: LSTMConfig, data: SequenceData) -> str | None:
    """Why a model cannot be compared on `data` (other input or output size), or None."""
    summary = data.summary()
    for name in ("input_size", "output_size"):
        if summary[name] != getattr(config, name):
            return f"it has {name} {getattr(config, name)}, the data {summary[name]}"
    return None


def baseline(version: str | None, predictor: Predictor | None, val: SequenceData) -> dict[str, Any]:
    """The active version's score on the validation data, or why it has none."""
    if version is None or predictor is None:
        return {"version": None, "val_mse": None, "reason": "no version was active"}
    problem = misfit(predictor.config, val)
    if problem is not None:
        return {"version": version, "val_mse": None, "reason": f"not comparable: {problem}"}
    return {"version": version, "val_mse": validation_mse(predictor, val), "reason": None}
