"""The training engine: TBPTT, learning, early stopping, reproducibility, cancellation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import LSTMConfig
from model.data import SequenceData, from_arrays
from model.errors import InvalidInput, TrainingCancelled, TrainingFailed
from model.inference import pad_sequences
from model.lstm import LSTMModel
from model.torch_predictor import TorchPredictor
from model.torch_trainer import sequence_loss
from model.torch_trainer import train_torch as train
from model.train_loop import EpochProgress, TrainParams, mean_predictor_loss

CONFIG = LSTMConfig(input_size=2, hidden_size=12, num_layers=2, output_size=1)


def _gradients(model: LSTMModel, x: torch.Tensor, y: torch.Tensor, k: int | None) -> list:
    model.zero_grad()
    sequence_loss(model, x, y, k).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("k", [20, 21, 100])
def test_tbptt_with_k_at_least_t_equals_full_bptt(k: int) -> None:
    torch.manual_seed(0)
    model = LSTMModel(CONFIG)
    x, y = torch.randn(6, 20, 2), torch.randn(6, 1)
    full = _gradients(model, x, y, None)
    truncated = _gradients(model, x, y, k)
    for a, b in zip(full, truncated, strict=True):
        assert torch.allclose(a, b, atol=1e-7)


def test_tbptt_keeps_the_loss_but_cuts_the_gradient_k_steps_back() -> None:
    torch.manual_seed(0)
    model = LSTMModel(CONFIG)
    x, y = torch.randn(6, 20, 2, requires_grad=True), torch.randn(6, 1)
    full_loss = sequence_loss(model, x, y, None)
    truncated_loss = sequence_loss(model, x, y, 3)
    assert torch.allclose(full_loss, truncated_loss, atol=1e-6)  # forward is exact
    truncated_loss.backward()
    assert x.grad is not None
    assert bool((x.grad[:, :17] == 0).all())  # nothing flows past the last 3 steps
    assert bool((x.grad[:, 17:].abs() > 0).any())
    x.grad = None
    full_loss.backward()
    assert bool((x.grad[:, :17].abs() > 0).any())


def _last_step_task(n: int = 400, steps: int = 12, seed: int = 0) -> SequenceData:
    """Target = 2 * x[-3, 0] + x[-1, 1]: learnable, far from the mean predictor."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 2)).astype(np.float32)
    y = 2.0 * x[:, -3, 0:1] + x[:, -1, 1:2]
    return from_arrays(x, y)


FAST = TrainParams(epochs=25, learning_rate=0.01, batch_size=32, seed=0, num_threads=1)


def test_learns_a_small_task_far_below_the_mean_predictor() -> None:
    data = _last_step_task()
    result = train(CONFIG, data, FAST)
    best = result.history[result.best_epoch - 1].val_loss
    assert best is not None and best < 0.05 * mean_predictor_loss(data)
    training = result.checkpoint.metadata["training"]
    assert training["best_epoch"] == result.best_epoch
    assert training["data"]["n"] == 400


def test_tbptt_shorter_than_t_still_trains() -> None:
    data = _last_step_task()
    result = train(CONFIG, data, TrainParams(**{**FAST.__dict__, "tbptt": 4}))
    best = result.history[result.best_epoch - 1].val_loss
    assert best is not None and best < 0.1 * mean_predictor_loss(data)


def test_predictions_come_back_in_user_units() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(100.0, 10.0, size=(300, 5, 2)).astype(np.float32)
    y = (x[:, -1, :1] * 3.0 + 500.0).astype(np.float32)  # around 800, far from 0
    result = train(CONFIG, from_arrays(x, y), FAST)
    predictions = TorchPredictor(result.checkpoint).predict(x, np.full(300, 5)).predictions
    assert np.sqrt(np.mean((predictions - y) ** 2)) < 0.2 * y.std()


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    data = _last_step_task(n=64)
    params = TrainParams(epochs=2, batch_size=16, seed=3, num_threads=1)
    a = train(CONFIG, data, params).checkpoint.tensors
    b = train(CONFIG, data, params).checkpoint.tensors
    c = train(CONFIG, data, TrainParams(epochs=2, batch_size=16, seed=4)).checkpoint.tensors
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_early_stopping_stops_after_patience_and_keeps_the_best_epoch() -> None:
    rng = np.random.default_rng(0)
    noise = from_arrays(rng.normal(size=(64, 4, 2)), rng.normal(size=(64, 1)))
    params = TrainParams(epochs=200, learning_rate=0.05, early_stopping_patience=3, seed=0)
    result = train(CONFIG, noise, params)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3
    val_losses = [p.val_loss for p in result.history]
    assert result.history[result.best_epoch - 1].val_loss == min(val_losses)  # type: ignore[type-var]


def test_progress_callback_sees_every_epoch_and_stop_hook_cancels() -> None:
    seen: list[EpochProgress] = []
    train(CONFIG, _last_step_task(n=64), TrainParams(epochs=3), on_progress=seen.append)
    assert [p.epoch for p in seen] == [1, 2, 3]
    assert all(p.epochs == 3 and p.val_loss is not None for p in seen)
    calls = iter(range(1000))
    with pytest.raises(TrainingCancelled):
        train(CONFIG, _last_step_task(n=64), FAST, should_stop=lambda: next(calls) >= 2)


def test_fine_tuning_starts_from_the_given_weights_and_scaling() -> None:
    data = _last_step_task()
    base = train(CONFIG, data, FAST).checkpoint
    tuned = train(CONFIG, data, TrainParams(epochs=1, learning_rate=1e-5), init_from=base)
    assert tuned.checkpoint.input_scaler is base.input_scaler
    x, lengths = pad_sequences([data.inputs[0]])
    before = TorchPredictor(base).predict(x, lengths).predictions
    after = TorchPredictor(tuned.checkpoint).predict(x, lengths).predictions
    np.testing.assert_allclose(after, before, atol=0.05)


def test_data_that_does_not_fit_the_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match="input_size 2 but the model has 3"):
        train(LSTMConfig(3, 4), _last_step_task(n=8), TrainParams(epochs=1))


@pytest.mark.parametrize("field", ["epochs", "batch_size", "tbptt", "learning_rate"])
def test_out_of_range_hyperparameters_are_refused(field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        TrainParams(**{field: 0})


def test_a_diverging_run_fails_clearly_instead_of_returning_initial_weights() -> None:
    params = TrainParams(epochs=5, learning_rate=1e20, clip_grad_norm=None)
    with pytest.raises(TrainingFailed, match="diverged at epoch"):
        train(CONFIG, _last_step_task(n=64), params)
