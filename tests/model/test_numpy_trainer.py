"""The NumPy training engine: TBPTT against full BPTT and against the torch engine, Adam and
clipping against torch, and a small task it must learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from model import numpy_lstm as nl
from model import numpy_model as nm
from model.config import LSTMConfig
from model.data import SequenceData, from_arrays
from model.errors import TrainingCancelled
from model.lstm import LSTMModel
from model.numpy_trainer import Adam, clip_grad_norm, tbptt_loss_and_grads, train_numpy
from model.torch_trainer import sequence_loss
from model.train_loop import EpochProgress, TrainParams, mean_predictor_loss

CONFIG = LSTMConfig(input_size=2, hidden_size=5, num_layers=2, output_size=1)


def _batch(steps: int = 7, batch: int = 3) -> tuple[nl.Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    params = {k: 2 * v for k, v in nm.init_params(CONFIG, rng, np.float64).items()}
    x = rng.standard_normal((batch, steps, CONFIG.input_size))
    return params, x, rng.standard_normal((batch, CONFIG.output_size))


@pytest.mark.parametrize("tbptt", [7, 8, 100])
def test_tbptt_at_least_t_is_full_bptt(tbptt: int) -> None:
    params, x, y = _batch(steps=7)
    full_loss, full, _, _ = nm.loss_and_grads(x, y, params)
    loss, grads = tbptt_loss_and_grads(x, y, params, tbptt)
    assert loss == full_loss
    for key, grad in full.items():
        np.testing.assert_array_equal(grads[key], grad)


@pytest.mark.parametrize(
    ("cell", "nonlinearity"), [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
)
def test_tbptt_truncates_and_matches_the_torch_engine(cell: str, nonlinearity: str) -> None:
    """Every cell: the whole model's loss and gradients (head, layers, truncation) equal
    autograd's through the torch model."""
    config = LSTMConfig(2, 5, 2, 1, cell=cell, nonlinearity=nonlinearity)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    params = {k: 2 * v for k, v in nm.init_params(config, rng, np.float64).items()}
    x, y = rng.standard_normal((3, 7, 2)), rng.standard_normal((3, 1))
    _, full, _, _ = nm.loss_and_grads(x, y, params, nonlinearity=nonlinearity)
    loss, grads = tbptt_loss_and_grads(x, y, params, 2, nonlinearity=nonlinearity)
    # The truncated gradient is a different number: only the last 2 steps are differentiated.
    first = f"{cell}.weight_ih_l0"
    assert np.abs(grads[first] - full[first]).max() > 1e-3
    model = LSTMModel(config).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    loss_t = sequence_loss(model, torch.from_numpy(x), torch.from_numpy(y), 2)
    loss_t.backward()  # type: ignore[no-untyped-call]
    assert abs(loss - loss_t.item()) < 1e-12
    for name, p in model.named_parameters():
        assert p.grad is not None
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_clip_grad_norm_and_adam_match_torch() -> None:
    params, x, y = _batch()
    model = LSTMModel(CONFIG).double()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    adam = Adam(0.01)
    for _ in range(3):
        _, grads, _, _ = nm.loss_and_grads(x, y, params)
        norm = clip_grad_norm(grads, 0.1)
        optimizer.zero_grad()
        loss_t = sequence_loss(model, torch.from_numpy(x), torch.from_numpy(y), None)
        loss_t.backward()  # type: ignore[no-untyped-call]
        norm_t = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        assert norm > 0.1 and abs(norm - norm_t.item()) < 1e-9 * norm  # clipping did happen
        adam.step(params, grads)
        optimizer.step()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(params[name], p.detach().numpy(), rtol=1e-7, atol=1e-9)


def _delayed_recall(n: int, steps: int, delay: int, seed: int) -> SequenceData:
    """Noise in, and the target is the input `delay` steps before the last one."""
    x = np.random.default_rng(seed).standard_normal((n, steps, 1))
    return from_arrays(x, x[:, steps - 1 - delay, :])


def test_learns_a_delayed_recall_task_far_below_the_mean_predictor() -> None:
    data = _delayed_recall(n=600, steps=8, delay=3, seed=1)
    config = LSTMConfig(input_size=1, hidden_size=12, num_layers=1, output_size=1)
    params = TrainParams(epochs=40, learning_rate=0.01, batch_size=32, seed=2)
    seen: list[EpochProgress] = []
    result = train_numpy(config, data, params, on_progress=seen.append)
    best = result.history[result.best_epoch - 1]
    assert best.val_loss is not None
    baseline = mean_predictor_loss(data)  # ~1 in scaled units
    assert best.val_loss < 0.05 * baseline, (best.val_loss, baseline)
    assert seen == result.history and len(seen) >= 10
    assert result.history[0].train_loss > 5 * best.train_loss  # it learned, not started there
    tensors = result.checkpoint.tensors
    assert all(value.dtype == np.float32 for value in tensors.values())
    assert result.checkpoint.metadata["training"]["engine"] == "numpy"


def test_training_is_reproducible_by_seed_and_can_be_stopped() -> None:
    data = _delayed_recall(n=60, steps=5, delay=1, seed=3)
    params = TrainParams(epochs=2, batch_size=16, seed=4)
    first = train_numpy(LSTMConfig(1, 4, 2, 1, dropout=0.2), data, params)
    second = train_numpy(LSTMConfig(1, 4, 2, 1, dropout=0.2), data, params)
    assert [p.train_loss for p in first.history] == [p.train_loss for p in second.history]
    for key, value in first.checkpoint.tensors.items():
        np.testing.assert_array_equal(value, second.checkpoint.tensors[key])
    calls = iter(range(100))
    with pytest.raises(TrainingCancelled):
        train_numpy(LSTMConfig(1, 4), data, params, should_stop=lambda: next(calls) >= 2)


def test_numpy_training_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from model.config import LSTMConfig\n"
        "from model.data import from_arrays\n"
        "from model.numpy_trainer import train_numpy\n"
        "from model.train_loop import TrainParams\n"
        "x = np.random.default_rng(0).normal(size=(32, 4, 2))\n"
        "train_numpy(LSTMConfig(2, 4), from_arrays(x, x[:, -1, :1]), TrainParams(epochs=1))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
