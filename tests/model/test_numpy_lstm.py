"""The NumPy LSTM: central-difference gradient checks, step-by-step and ragged equivalences, and
agreement with the torch model (outputs in float32, autograd gradients in float64)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from model import numpy_lstm as nl
from model import numpy_model as nm
from model.checkpoint import expected_shapes
from model.config import LSTMConfig
from model.inference import pad_sequences
from model.lstm import LSTMModel
from model.numpy_predictor import NumpyPredictor
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint, write_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CONFIG = LSTMConfig(input_size=3, hidden_size=4, num_layers=2, output_size=2)
RAGGED = np.array([5, 2, 1, 4])  # B = 4 sequences of at most T = 5 steps


def _setup(
    config: LSTMConfig = CONFIG, batch: int = 4, steps: int = 5, seed: int = 0
) -> tuple[nl.Params, np.ndarray, np.ndarray, np.ndarray]:
    """float64 weights, x (B, T, F), h0 and c0 (L, B, H), all random and non-trivial."""
    rng = np.random.default_rng(seed)
    # Larger than the default init, so gates leave their linear region and errors show.
    params = {k: 2 * v for k, v in nm.init_params(config, rng, np.float64).items()}
    x = rng.standard_normal((batch, steps, config.input_size))
    state_shape = (config.num_layers, batch, config.hidden_size)
    return params, x, rng.standard_normal(state_shape), rng.standard_normal(state_shape)


def _numerical_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences of f() in every element of `array`, perturbed in place."""
    grad = np.empty_like(array)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        grad_flat[i] = (plus - minus) / (2 * eps)
    return grad


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Relative error of two arrays as wholes, in the 2-norm."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) / scale


def _torch_model(params: nl.Params, config: LSTMConfig, dtype: torch.dtype) -> LSTMModel:
    model = LSTMModel(config).to(dtype)
    model.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in params.items()})
    return model


@pytest.mark.parametrize("lengths", [None, RAGGED], ids=["full", "ragged"])
def test_gradient_check_of_sum_h_times_r(lengths: np.ndarray | None) -> None:
    params, x, h0, c0 = _setup()
    rng = np.random.default_rng(1)
    out, hn, cn, _ = nl.forward(x, params, h0, c0, lengths)
    r_out, r_h, r_c = (rng.standard_normal(a.shape) for a in (out, hn, cn))

    def loss() -> float:
        out, hn, cn, _ = nl.forward(x, params, h0, c0, lengths)
        return float(np.sum(out * r_out) + np.sum(hn * r_h) + np.sum(cn * r_c))

    _, _, _, cache = nl.forward(x, params, h0, c0, lengths)
    dx, grads, dh0, dc0 = nl.backward(r_out, cache, r_h, r_c)
    analytic = {**grads, "x": dx, "h0": dh0, "c0": dc0}
    arrays = {**{k: params[k] for k in grads}, "x": x, "h0": h0, "c0": c0}
    assert len(grads) == 4 * CONFIG.num_layers
    for name, array in arrays.items():
        error = _rel_error(analytic[name], _numerical_grad(loss, array))
        assert error < 1e-6, f"{name}: relative error {error:.2e}"


def test_gradient_check_of_the_full_model_mse_with_dropout() -> None:
    params, x, h0, c0 = _setup()
    y = np.random.default_rng(2).standard_normal((4, CONFIG.output_size))

    def run() -> tuple[float, nl.Params, np.ndarray, np.ndarray]:
        # The same seed draws the same dropout masks, so the loss is a fixed function.
        rng = np.random.default_rng(3)
        return nm.loss_and_grads(x, y, params, h0, c0, RAGGED, dropout=0.3, rng=rng)

    _, grads, dh0, dc0 = run()
    assert list(grads) == list(expected_shapes(CONFIG))  # every parameter, state-dict order
    analytic = {**grads, "h0": dh0, "c0": dc0}
    for name, array in {**params, "h0": h0, "c0": c0}.items():
        error = _rel_error(analytic[name], _numerical_grad(lambda: run()[0], array))
        assert error < 1e-6, f"{name}: relative error {error:.2e}"


def test_one_step_at_a_time_equals_the_whole_sequence() -> None:
    params, x, h0, c0 = _setup()
    out, hn, cn, _ = nl.forward(x, params, h0, c0)
    h, c, steps = h0, c0, []
    for t in range(x.shape[1]):
        step_out, h, c, _ = nl.forward(x[:, t : t + 1], params, h, c)
        steps.append(step_out)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), out, rtol=0, atol=1e-14)
    np.testing.assert_allclose(h, hn, rtol=0, atol=1e-14)
    np.testing.assert_allclose(c, cn, rtol=0, atol=1e-14)


def test_ragged_batch_equals_each_sequence_alone() -> None:
    params, x, h0, c0 = _setup()
    for row, length in enumerate(RAGGED):
        x[row, length:] = 1e6  # padding must never be read
    pred, hn, cn, steps = nm.predict(x, params, h0, c0, RAGGED, return_steps=True)
    assert steps is not None
    for row, length in enumerate(RAGGED):
        alone = x[row : row + 1, :length]
        state = (h0[:, row : row + 1], c0[:, row : row + 1])
        p1, h1, c1, s1 = nm.predict(alone, params, *state, return_steps=True)
        assert s1 is not None
        np.testing.assert_allclose(pred[row], p1[0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(hn[:, row], h1[:, 0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(cn[:, row], c1[:, 0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(steps[row, :length], s1[0], rtol=0, atol=1e-14)
        assert not steps[row, length:].any()  # zero past the length, as the torch model


def test_float32_outputs_and_states_match_torch() -> None:
    config = LSTMConfig(input_size=3, hidden_size=8, num_layers=2, output_size=2)
    params, x, h0, c0 = _setup(config, batch=4, steps=5)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    x32, h32, c32 = (a.astype(np.float32) for a in (x, h0, c0))
    pred, hn, cn, steps = nm.predict(x32, params32, h32, c32, RAGGED, return_steps=True)
    assert pred.dtype == hn.dtype == np.float32
    model = _torch_model(params, config, torch.float32)
    with torch.inference_mode():
        ref = model(
            torch.from_numpy(x32),
            (torch.from_numpy(h32), torch.from_numpy(c32)),
            torch.from_numpy(RAGGED),
            return_steps=True,
        )
    assert ref.steps is not None and steps is not None
    for mine, theirs in ((pred, ref.predictions), (hn, ref.h), (cn, ref.c), (steps, ref.steps)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=0, atol=1e-5)


def test_float64_gradients_match_torch_autograd() -> None:
    params, x, h0, c0 = _setup()
    y = np.random.default_rng(4).standard_normal((4, CONFIG.output_size))
    loss, grads, dh0, dc0 = nm.loss_and_grads(x, y, params, h0, c0, RAGGED)
    model = _torch_model(params, CONFIG, torch.float64)
    h0_t = torch.tensor(h0, requires_grad=True)
    c0_t = torch.tensor(c0, requires_grad=True)
    out = model(torch.from_numpy(x), (h0_t, c0_t), torch.from_numpy(RAGGED))
    loss_t = torch.nn.functional.mse_loss(out.predictions, torch.from_numpy(y))
    loss_t.backward()  # type: ignore[no-untyped-call]
    assert abs(loss - loss_t.item()) < 1e-12
    reference = {name: p.grad for name, p in model.named_parameters()}
    reference |= {"h0": h0_t.grad, "c0": c0_t.grad}
    for name, mine in {**grads, "h0": dh0, "c0": dc0}.items():
        theirs = reference[name]
        assert theirs is not None
        assert _rel_error(mine, theirs.numpy()) < 1e-5, name


def test_forward_in_chunks_with_carried_state_equals_one_pass() -> None:
    params, x, h0, c0 = _setup(steps=7)
    out, hn, cn, _ = nl.forward(x, params, h0, c0)
    h, c, parts = h0, c0, []
    for start in range(0, 7, 3):  # chunks of 3, 3, 1
        part, h, c, _ = nl.forward(x[:, start : start + 3], params, h, c)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), out, rtol=0, atol=1e-14)
    np.testing.assert_allclose(h, hn, rtol=0, atol=1e-14)
    np.testing.assert_allclose(c, cn, rtol=0, atol=1e-14)


def test_padded_inputs_get_no_gradient_and_backward_needs_a_cache() -> None:
    params, x, h0, c0 = _setup()
    _, _, _, cache = nl.forward(x, params, h0, c0, RAGGED)
    dx, _, _, _ = nl.backward(np.ones((4, 5, CONFIG.hidden_size)), cache)
    for row, length in enumerate(RAGGED):
        assert not dx[row, length:].any()
        assert np.abs(dx[row, :length]).min() > 0
    _, _, _, no_cache = nl.forward(x, params, h0, c0, keep_cache=False)
    with pytest.raises(ValueError, match="keep_cache"):
        nl.backward(None, no_cache)


def test_init_params_has_the_state_dict_layout_and_torch_range() -> None:
    params = nm.init_params(CONFIG, np.random.default_rng(0))
    shapes = {key: value.shape for key, value in params.items()}
    assert shapes == expected_shapes(CONFIG)
    assert all(v.dtype == np.float32 for v in params.values())
    bound = 1 / np.sqrt(CONFIG.hidden_size)
    assert max(float(np.abs(v).max()) for v in params.values()) <= bound
    assert min(float(np.abs(v).max()) for v in params.values()) > bound / 2


def test_numpy_predictor_matches_torch_predictor_in_user_units() -> None:
    checkpoint = make_checkpoint(seed=7)  # hidden 8, 2 layers, scaling far from identity
    rng = np.random.default_rng(7)
    x, lengths = pad_sequences([rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 1, 6)])
    state = tuple(rng.standard_normal((2, 3, 8)).astype(np.float32) for _ in "hc")
    mine = NumpyPredictor(checkpoint).predict(x, lengths, (state[0], state[1]), True)
    theirs = TorchPredictor(checkpoint).predict(x, lengths, (state[0], state[1]), True)
    assert NumpyPredictor.backend == "numpy"
    assert mine.predictions.dtype == np.float64  # user units, unscaled in float64
    assert mine.h.dtype == mine.c.dtype == np.float32  # the model's own units
    for a, b in zip(mine[:3], theirs[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert mine.steps is not None and theirs.steps is not None
    for a, b in zip(mine.steps, theirs.steps, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_numpy_predictor_serves_without_importing_torch(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "model.safetensors")
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from model.checkpoint import load_checkpoint
        from model.numpy_predictor import NumpyPredictor
        predictor = NumpyPredictor(load_checkpoint({str(path)!r}))
        out = predictor.predict(np.ones((2, 4, 3), np.float32), np.array([4, 2]))
        print(out.predictions.shape, sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 2) []"
