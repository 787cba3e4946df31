"""The one place a parsed request is checked before it reaches a model: the request limits (413)
before any model is chosen, then the shapes against the chosen model (422) with the location of
the first misfit, and the outputs checked finite before they become JSON.

Parsed numbers arrive as arrays when they were rectangular (the fast path, binary bodies), else
as the validated lists; the checks give the same message and location for either."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.errors import LimitExceeded
from app.core.settings import Settings
from app.protocol.request import Numbers, PredictInput, Tensor3
from app.serving.batch import Batch
from model.config import LSTMConfig
from model.errors import InvalidInput
from model.inference import Prediction, State, pad_sequences


@dataclass(frozen=True)
class RequestLimits:
    """How much one predict request may ask; over any of them the answer is 413."""

    max_batch_size: int  # sequences per request
    max_sequence_steps: int  # steps in one sequence
    max_total_steps: int  # steps over all sequences of a request

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(settings.max_batch_size, settings.max_sequence_steps, settings.max_total_steps)


def check_limits(lengths: np.ndarray, limits: RequestLimits) -> None:
    """`lengths`: (B,) steps of each sequence of a request."""
    if len(lengths) > limits.max_batch_size:
        raise LimitExceeded(
            f"{len(lengths)} sequences; at most {limits.max_batch_size} per request", ("inputs",)
        )
    too_long = np.flatnonzero(lengths > limits.max_sequence_steps)
    if too_long.size:
        b = int(too_long[0])
        raise LimitExceeded(
            f"{lengths[b]} steps; at most {limits.max_sequence_steps} per sequence",
            ("inputs", b),
        )
    total = int(lengths.sum())
    if total > limits.max_total_steps:
        raise LimitExceeded(
            f"{total} steps in all; at most {limits.max_total_steps} per request", ("inputs",)
        )


def make_batch(
    request: PredictInput, config: LSTMConfig, state: State | None, steps: bool
) -> Batch:
    inputs = request.inputs
    if isinstance(inputs, np.ndarray):
        if inputs.shape[2] != config.input_size:  # all steps have one size: the first misfits
            raise _features_misfit(config.input_size, inputs.shape[2], 0, 0)
        return Batch(inputs, request.lengths, state, steps)
    x, lengths = pad_sequences(inputs_to_arrays(inputs, config))
    return Batch(x, lengths, state, steps)


def inputs_to_arrays(inputs: Tensor3, config: LSTMConfig) -> list[np.ndarray]:
    """B lists of steps -> B arrays (T_b, input_size); a step of the wrong size is located."""
    for b, sequence in enumerate(inputs):
        for t, step in enumerate(sequence):
            if len(step) != config.input_size:
                raise _features_misfit(config.input_size, len(step), b, t)
    return [np.asarray(sequence, dtype=np.float32) for sequence in inputs]


def _features_misfit(expected: int, got: int, b: int, t: int) -> InvalidInput:
    return InvalidInput(f"each step needs {expected} features, got {got}", ("inputs", b, t))


def state_to_arrays(state: tuple[Numbers, Numbers | None], config: LSTMConfig, batch: int) -> State:
    """The request's state as (num_layers, B, hidden_size) float32 arrays: h and c for an
    LSTM, h alone for a GRU or an RNN (which have no cell state)."""
    shape = (config.num_layers, batch, config.hidden_size)
    h, c = state
    if config.has_cell_state and c is None:
        raise InvalidInput("an lstm's state is h and c: send both", ("state", "c"))
    if not config.has_cell_state and c is not None:
        raise InvalidInput(f"a {config.cell} has no cell state: send state.h alone", ("state", "c"))
    return _tensor(h, shape, "h"), None if c is None else _tensor(c, shape, "c")


def _tensor(values: Numbers, shape: tuple[int, int, int], name: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        if values.shape == shape:
            return values
        values = values.tolist()  # a misfit: the checks below locate it
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
    parts = [prediction.predictions, prediction.h, *(prediction.steps or [])]
    parts += [] if prediction.c is None else [prediction.c]
    if not all(np.isfinite(part).all() for part in parts):
        raise InvalidInput("the model's output is not finite: inputs out of range", ("inputs",))
