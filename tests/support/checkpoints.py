"""Small random checkpoints with non-trivial scaling, so every test that compares numbers also
checks that scaling is applied both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model.checkpoint import Checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.lstm import LSTMModel
from model.scaling import Scaler

SMALL_CONFIG = LSTMConfig(input_size=3, hidden_size=8, num_layers=2, output_size=2)


def make_checkpoint(seed: int = 0, config: LSTMConfig = SMALL_CONFIG) -> Checkpoint:
    """A random LSTMModel's weights with scalers far from identity."""
    torch.manual_seed(seed)
    model = LSTMModel(config)
    tensors = {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}
    rng = np.random.default_rng(seed)
    input_scaler = Scaler(
        rng.normal(size=config.input_size), rng.uniform(0.5, 4.0, config.input_size)
    )
    target_scaler = Scaler(
        rng.normal(10.0, 5.0, config.output_size), rng.uniform(2.0, 8.0, config.output_size)
    )
    return Checkpoint(config, tensors, input_scaler, target_scaler)


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    save_checkpoint(make_checkpoint(seed), path)
    return path
