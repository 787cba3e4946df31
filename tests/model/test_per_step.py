"""Per-step targets: a target at every step, the loss over all of them, and the streaming
truncation of word_language_model (chunks of k steps, the state carried and detached). With
k >= T it is full BPTT; both engines compute the same losses and gradients for every cell; and
per-step training learns a task that training on the last step alone cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model import numpy_model
from model.config import LSTMConfig
from model.data import from_arrays, make_windows
from model.errors import InvalidInput
from model.lstm import LSTMModel
from model.numpy_trainer import batch_losses as numpy_losses
from model.torch_predictor import TorchPredictor
from model.torch_trainer import step_losses, train_torch
from model.train_loop import TrainParams
from model.windows import SeriesWindows

T = 7


def _problem(
    cell: str, seed: int = 0
) -> tuple[LSTMConfig, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    config = LSTMConfig(2, 5, 2, 3, cell=cell)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    params = {k: 2 * v for k, v in numpy_model.init_params(config, rng, np.float64).items()}
    return config, params, rng.standard_normal((4, T, 2)), rng.standard_normal((4, T, 3))


Chunks = list[tuple[float, dict[str, np.ndarray]]]


def _model(config: LSTMConfig, params: dict[str, np.ndarray]) -> LSTMModel:
    model = LSTMModel(config).double()
    model.load_state_dict({key: torch.from_numpy(value) for key, value in params.items()})
    return model


def _torch_chunks(
    config: LSTMConfig, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, k: int | None
) -> Chunks:
    """Each chunk's loss and gradients, the weights left as they are between chunks."""
    model = _model(config, params)
    found = []
    for loss, _ in step_losses(model, torch.from_numpy(x), torch.from_numpy(y), k):
        model.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        grads = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}  # type: ignore[union-attr]
        found.append((loss.item(), grads))
    return found


@pytest.mark.parametrize("k", [T, T + 5])
def test_k_at_least_t_is_full_bptt_of_the_loss_over_every_step(k: int) -> None:
    config, params, x, y = _problem("lstm")
    [(full_loss, full)] = _torch_chunks(config, params, x, y, None)
    [(loss, grads)] = _torch_chunks(config, params, x, y, k)
    assert loss == full_loss
    for name, grad in full.items():
        np.testing.assert_array_equal(grads[name], grad)
    with torch.no_grad():
        steps = _model(config, params)(torch.from_numpy(x), return_steps=True).steps
    assert full_loss == pytest.approx(float(((steps - torch.from_numpy(y)) ** 2).mean()), 1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("k", [None, 3])
def test_both_engines_give_each_chunks_loss_and_gradients(cell: str, k: int | None) -> None:
    config, params, x, y = _problem(cell)
    expected = _torch_chunks(config, params, x, y, k)
    got = list(numpy_losses(x, y, params, k))
    assert [share for _, _, share in got] == ([1.0] if k is None else [3 / 7, 3 / 7, 1 / 7])
    assert len(got) == len(expected)
    for (loss, grads, _), (torch_loss, torch_grads) in zip(got, expected, strict=True):
        assert loss == pytest.approx(torch_loss, rel=1e-12)
        for name, grad in torch_grads.items():
            np.testing.assert_allclose(grads[name], grad, rtol=1e-8, atol=1e-12)


def test_a_chunk_starts_from_the_state_before_it_with_no_gradient_through_it() -> None:
    config, params, x, y = _problem("lstm")
    second = _torch_chunks(config, params, x, y, 3)[1]
    model = _model(config, params)
    with torch.no_grad():
        before = model(torch.from_numpy(x[:, :3]))
    out = model(torch.from_numpy(x[:, 3:6]), (before.h, before.c), return_steps=True)
    loss = ((out.steps - torch.from_numpy(y[:, 3:6])) ** 2).mean()
    loss.backward()  # type: ignore[no-untyped-call]
    assert second[0] == pytest.approx(loss.item(), rel=1e-12)
    for name, p in model.named_parameters():
        assert p.grad is not None
        np.testing.assert_allclose(second[1][name], p.grad.numpy(), rtol=1e-10, atol=1e-14)
    [(_, full)] = _torch_chunks(config, params, x, y, None)  # and that is not full BPTT
    assert np.abs(second[1]["lstm.weight_hh_l0"] - full["lstm.weight_hh_l0"]).max() > 1e-3


def _alternating(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x_t ~ N(0, 1) and y_t = x_t at even steps, -x_t at odd ones: the answer depends on the
    step, which a model trained on the last step alone (always even) never sees."""
    x = np.random.default_rng(seed).normal(size=(n, 8, 1)).astype(np.float32)
    sign = np.where(np.arange(8) % 2 == 0, 1.0, -1.0)[None, :, None]
    return x, (x * sign).astype(np.float32)


def test_per_step_training_learns_what_training_on_the_last_step_cannot() -> None:
    x, y = _alternating(512, seed=0)
    held_x, held_y = _alternating(256, seed=1)
    params = TrainParams(epochs=30, batch_size=32, learning_rate=0.02, validation_split=0.0,
                         num_threads=1)  # fmt: skip
    errors = {}
    for name, data in (("per step", from_arrays(x, y)), ("last step", from_arrays(x, y[:, -1]))):
        model = train_torch(LSTMConfig(1, 16, 1, 1), data, params).checkpoint
        answer = TorchPredictor(model).predict(held_x, np.full(256, 8), return_steps=True)
        assert answer.steps is not None
        errors[name] = float(np.mean((np.stack(answer.steps) - held_y) ** 2))
    assert errors["per step"] < 0.05  # every step right
    assert errors["last step"] > 1.0  # the odd steps wrong: about 2, the variance of 2 x_t


def test_windows_with_a_target_at_every_step(tmp_path: Path) -> None:
    series = np.arange(40.0).reshape(20, 2)
    data = make_windows(series, window=4, horizon=2, target_columns=[0], per_step=True)
    assert data.per_step and data.targets.shape == (15, 4, 1)
    np.testing.assert_array_equal(data.targets[3, :, 0], series[3 + 2 : 3 + 2 + 4, 0])
    np.save(tmp_path / "s.npy", series)
    on_disk = SeriesWindows.open(tmp_path / "s.npy", 4, 2, [0], per_step=True).in_memory()
    np.testing.assert_array_equal(on_disk.targets, data.targets)
    assert data.summary()["per_step"] is True


def test_per_step_targets_must_have_the_inputs_steps() -> None:
    with pytest.raises(InvalidInput, match="per-step targets have 3 steps") as info:
        from_arrays(np.zeros((2, 4, 1)), np.zeros((2, 3, 1)))
    assert info.value.location == ("targets",)
