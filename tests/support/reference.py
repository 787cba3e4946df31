"""The expected answer for one sequence alone: a direct LSTMModel call, scaling done by hand."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from model.checkpoint import load_checkpoint
from model.torch_predictor import build_model


class Expected(NamedTuple):
    prediction: np.ndarray  # (output_size,)
    h: np.ndarray  # (num_layers, hidden_size)
    c: np.ndarray  # (num_layers, hidden_size)
    steps: np.ndarray  # (T, output_size)


def expected(
    checkpoint_path: Path,
    sequence: list[list[float]],
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> Expected:
    """`sequence` (T, F) in user units; `state` (num_layers, hidden_size) each, or None."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = build_model(checkpoint)
    inputs, targets = checkpoint.input_scaler, checkpoint.target_scaler
    x = (np.asarray(sequence, dtype=np.float64) - inputs.mean) / inputs.std
    initial = None
    if state is not None:
        initial = tuple(torch.tensor(part, dtype=torch.float32)[:, None, :] for part in state)
    with torch.no_grad():
        out = model(torch.tensor(x[None], dtype=torch.float32), initial, None, True)
    assert out.steps is not None
    return Expected(
        out.predictions[0].double().numpy() * targets.std + targets.mean,
        out.h[:, 0].numpy(),
        out.c[:, 0].numpy(),
        out.steps[0].double().numpy() * targets.std + targets.mean,
    )
