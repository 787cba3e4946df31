"""One model call (`Batch`), several callers' batches merged into one, and its answer cut back
into each caller's rows.

Rows of a recurrent model never mix: packing (no padded step is read) and zero initial states
for members that sent none (what nn.LSTM does without a state) make each member's rows what it
gets alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from model.config import LSTMConfig
from model.inference import Prediction, State


class Batch(NamedTuple):
    """One model call: what the batcher takes."""

    x: np.ndarray  # (B, T_max, input_size) float32, zero-padded after each length
    lengths: np.ndarray  # (B,) int64
    state: State | None  # (h, c) of an LSTM, (h, None) of a GRU or an RNN
    return_steps: bool


def merge(batches: Sequence[Batch], config: LSTMConfig) -> Batch:
    """One Batch holding every member's sequences, in order. Per-step outputs are computed when
    any member asks for them; `split` hands them only to those that did."""
    total = sum(batch.x.shape[0] for batch in batches)
    steps = max(batch.x.shape[1] for batch in batches)
    x = np.zeros((total, steps, config.input_size), dtype=np.float32)  # (B, T, F)
    row = 0
    for batch in batches:
        rows, length = batch.x.shape[:2]
        x[row : row + rows, :length] = batch.x
        row += rows
    lengths = np.concatenate([batch.lengths for batch in batches])
    return_steps = any(batch.return_steps for batch in batches)
    return Batch(x, lengths, _merge_states(batches, config, total), return_steps)


def _merge_states(batches: Sequence[Batch], config: LSTMConfig, total: int) -> State | None:
    if all(batch.state is None for batch in batches):
        return None
    shape = (config.num_layers, total, config.hidden_size)  # (L, B, H)
    h = np.zeros(shape, dtype=np.float32)
    c = np.zeros(shape, dtype=np.float32) if config.has_cell_state else None
    row = 0
    for batch in batches:
        rows = batch.x.shape[0]
        if batch.state is not None:
            h[:, row : row + rows] = batch.state[0]
            if c is not None:
                c[:, row : row + rows] = batch.state[1]
        row += rows
    return h, c


def split(prediction: Prediction, batches: Sequence[Batch]) -> list[Prediction]:
    """Each member's rows of the merged prediction, as contiguous arrays (JSON encoding and
    session states need them so)."""
    parts = []
    row = 0
    for batch in batches:
        rows = slice(row, row + batch.x.shape[0])
        steps = prediction.steps[rows] if prediction.steps is not None else None
        parts.append(
            Prediction(
                prediction.predictions[rows],
                np.ascontiguousarray(prediction.h[:, rows]),
                None if prediction.c is None else np.ascontiguousarray(prediction.c[:, rows]),
                steps if batch.return_steps else None,
            )
        )
        row = rows.stop
    return parts
