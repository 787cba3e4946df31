"""Resume points: a torch run stopped after an epoch and continued from its saved state ends
with exactly the weights of a run that never stopped (one thread), and a resume point of
another run is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.config import LSTMConfig
from model.data import SequenceData, from_arrays
from model.errors import CheckpointError, InvalidInput, TrainingCancelled
from model.torch_trainer import train_torch
from model.train_loop import TrainParams
from model.train_state import Checkpointing, TrainingState, load_state, save_state

# Dropout on, and a validation split: every generator the run draws from is exercised.
CONFIG = LSTMConfig(input_size=2, hidden_size=8, num_layers=2, output_size=1, dropout=0.2)
PARAMS = TrainParams(epochs=6, batch_size=16, seed=3, num_threads=1, early_stopping_patience=None)


def _data() -> SequenceData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 7, 2)).astype(np.float32)
    return from_arrays(x, x[:, -1, :1] + 0.5 * x[:, 0, 1:])


class StopAfter:
    """should_stop: true once `epochs` epochs have reported progress (the worker dying)."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.seen = epochs, 0

    def progress(self, _progress: object) -> None:
        self.seen += 1

    def __call__(self) -> bool:
        return self.seen >= self.epochs


def test_a_resumed_run_equals_one_that_never_stopped(tmp_path: Path) -> None:
    whole = train_torch(CONFIG, _data(), PARAMS)
    saved = tmp_path / "state.safetensors"
    stop = StopAfter(3)
    with pytest.raises(TrainingCancelled):
        train_torch(CONFIG, _data(), PARAMS, stop.progress, stop,
                    checkpointing=Checkpointing(save=lambda s: save_state(s, saved)))  # fmt: skip
    state = load_state(saved)
    assert state.epoch == 3 and [p.epoch for p in state.history] == [1, 2, 3]
    resumed = train_torch(CONFIG, _data(), PARAMS, checkpointing=Checkpointing(resume_from=state))
    assert resumed.best_epoch == whole.best_epoch
    assert [p.train_loss for p in resumed.history] == [p.train_loss for p in whole.history]
    for key, array in whole.checkpoint.tensors.items():
        np.testing.assert_array_equal(resumed.checkpoint.tensors[key], array)


def test_saves_every_nth_epoch_and_the_last(tmp_path: Path) -> None:
    epochs: list[int] = []
    params = TrainParams(epochs=5, batch_size=32, seed=0, early_stopping_patience=None)
    every_second = Checkpointing(save=lambda state: epochs.append(state.epoch), every=2)
    train_torch(CONFIG, _data(), params, checkpointing=every_second)
    assert epochs == [2, 4, 5]


def test_a_resume_point_of_another_run_is_refused(tmp_path: Path) -> None:
    saved: list[TrainingState] = []
    params = TrainParams(epochs=1, batch_size=32, seed=0)
    train_torch(CONFIG, _data(), params, checkpointing=Checkpointing(save=saved.append))
    other = TrainParams(epochs=1, batch_size=32, seed=1)
    with pytest.raises(InvalidInput, match="params"):
        train_torch(CONFIG, _data(), other, checkpointing=Checkpointing(resume_from=saved[0]))


def test_a_file_that_is_not_a_resume_point_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError):
        load_state(path)
