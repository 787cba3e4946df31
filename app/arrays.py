"""Between validated JSON and numpy: shapes checked against the model with the location of the
first misfit, and outputs checked finite before they become JSON."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from app.schemas import State
from model.config import LSTMConfig
from model.errors import InvalidInput
from model.inference import Prediction, pad_sequences

LSTMState = tuple[np.ndarray, np.ndarray]  # h, c: (num_layers, B, hidden_size) each


class Batch(NamedTuple):
    """One model call: what the runner (and later the batcher) takes."""

    x: np.ndarray  # (B, T_max, input_size) float32, zero-padded after each length
    lengths: np.ndarray  # (B,) int64
    state: LSTMState | None
    return_steps: bool


def inputs_to_arrays(inputs: list[list[list[float]]], config: LSTMConfig) -> list[np.ndarray]:
    """B lists of steps -> B arrays (T_b, input_size); a step of the wrong size is located."""
    for b, sequence in enumerate(inputs):
        for t, step in enumerate(sequence):
            if len(step) != config.input_size:
                raise InvalidInput(
                    f"each step needs {config.input_size} features, got {len(step)}",
                    ("inputs", b, t),
                )
    return [np.asarray(sequence, dtype=np.float32) for sequence in inputs]


def make_batch(
    inputs: list[list[list[float]]], config: LSTMConfig, state: LSTMState | None, steps: bool
) -> Batch:
    x, lengths = pad_sequences(inputs_to_arrays(inputs, config))
    return Batch(x, lengths, state, steps)


def state_to_arrays(state: State, config: LSTMConfig, batch_size: int) -> LSTMState:
    """The request's state as (num_layers, B, hidden_size) float32 arrays."""
    shape = (config.num_layers, batch_size, config.hidden_size)
    return _tensor(state.h, shape, "h"), _tensor(state.c, shape, "c")


def _tensor(values: list[list[list[float]]], shape: tuple[int, int, int], name: str) -> np.ndarray:
    layers, batch, hidden = shape
    expected = f"state.{name} must be [num_layers={layers}][B={batch}][hidden_size={hidden}]"
    if len(values) != layers:
        raise InvalidInput(f"{expected}; got {len(values)} layers", ("state", name))
    for layer, rows in enumerate(values):
        if len(rows) != batch:
            raise InvalidInput(f"{expected}; got {len(rows)} rows", ("state", name, layer))
        for row, vector in enumerate(rows):
            if len(vector) != hidden:
                raise InvalidInput(
                    f"{expected}; got {len(vector)} values", ("state", name, layer, row)
                )
    return np.asarray(values, dtype=np.float32)


def check_finite(prediction: Prediction) -> None:
    """Inputs near the float32 limits can overflow inside the model; say so rather than send
    NaN (which is not JSON) or fail with a 500."""
    parts = [prediction.predictions, prediction.h, prediction.c, *(prediction.steps or [])]
    if not all(np.isfinite(part).all() for part in parts):
        raise InvalidInput("the model's output is not finite: inputs out of range", ("inputs",))
