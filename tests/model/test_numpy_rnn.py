"""The NumPy Elman RNN: agreement with nn.RNN (outputs and final state in float32, ragged, with an
initial state, continued; autograd gradients in float64) and central-difference gradient checks,
with and without dropout. The checks take the NumPy module and its torch class, so
test_numpy_gru.py runs the same ones on the GRU."""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model import numpy_rnn as nr
from model.numpy_lstm import Params
from tests.model.test_numpy_lstm import RAGGED, _numerical_grad, _rel_error

FEATURES, HIDDEN, LAYERS, BATCH, STEPS = 3, 4, 2, 4, 5  # RAGGED: B = 4 sequences of at most 5
NONLINEARITIES = pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])


class Cell(NamedTuple):
    """A NumPy network and what it is checked against."""

    model: ModuleType  # model.numpy_rnn or model.numpy_gru
    torch_cls: type[nn.RNNBase]  # nn.RNN or nn.GRU
    prefix: str  # of its state-dict keys
    gates: int  # row blocks in each weight matrix


RNN = Cell(nr, nn.RNN, "rnn.", 1)


def random_params(cell: Cell, seed: int = 0) -> Params:
    """float64 weights in the state dict's names, layout and order, drawn from U(-2/sqrt(H),
    2/sqrt(H)): twice torch's init, so gates leave their linear region and errors show."""
    rng = np.random.default_rng(seed)
    bound = 2.0 / np.sqrt(HIDDEN)
    params = {}
    for k in range(LAYERS):
        rows, inputs = cell.gates * HIDDEN, FEATURES if k == 0 else HIDDEN
        shapes = {"weight_ih": (rows, inputs), "weight_hh": (rows, HIDDEN)}
        shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
        for name, shape in shapes.items():
            params[f"{cell.prefix}{name}_l{k}"] = rng.uniform(-bound, bound, shape)
    return params


def random_inputs(steps: int = STEPS, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """float64 x (B, T, F) and h0 (L, B, H)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, steps, FEATURES))
    return x, rng.standard_normal((LAYERS, BATCH, HIDDEN))


def _torch_module(cell: Cell, params: Params, dtype: torch.dtype, **kwargs: Any) -> nn.RNNBase:
    """nn.GRU or nn.RNN (batch_first) holding `params`, their prefix stripped."""
    module = cell.torch_cls(FEATURES, HIDDEN, LAYERS, batch_first=True, **kwargs).to(dtype)
    state = {key.split(".", 1)[1]: torch.from_numpy(value) for key, value in params.items()}
    module.load_state_dict(state)
    return module


def _torch_run(
    module: nn.RNNBase, x: torch.Tensor, h0: torch.Tensor | None, lengths: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """out (B, T, H), zero past each length, and hn (L, B, H); a ragged batch goes in packed."""
    if lengths is None:
        out, hn = module(x, h0)
        return out, hn
    packed = pack_padded_sequence(
        x, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    packed_out, hn = module(packed, h0)
    out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
    return out, hn


def check_forward_matches_torch(cell: Cell, with_h0: bool, **kwargs: Any) -> float:
    """float32, ragged: the batch against torch's packed batch, and each row against torch on
    that sequence alone. Returns the largest absolute difference."""
    params = {k: v.astype(np.float32) for k, v in random_params(cell).items()}
    x, h0_64 = (a.astype(np.float32) for a in random_inputs())
    h0 = h0_64 if with_h0 else None
    for row, length in enumerate(RAGGED):
        x[row, length:] = 1e6  # padding must never be read
    out, hn, _ = cell.model.forward(x, params, h0, RAGGED, keep_cache=False, **kwargs)
    assert out.dtype == hn.dtype == np.float32
    module = _torch_module(cell, params, torch.float32, **kwargs)
    h0_t = None if h0 is None else torch.from_numpy(h0)
    errors = []
    with torch.inference_mode():
        ref_out, ref_hn = _torch_run(module, torch.from_numpy(x), h0_t, RAGGED)
        errors += [np.abs(out - ref_out.numpy()).max(), np.abs(hn - ref_hn.numpy()).max()]
        for row, length in enumerate(RAGGED):
            alone_h0 = None if h0_t is None else h0_t[:, row : row + 1]
            alone_out, alone_hn = module(torch.from_numpy(x[row : row + 1, :length]), alone_h0)
            errors.append(np.abs(out[row, :length] - alone_out[0].numpy()).max())
            errors.append(np.abs(hn[:, row] - alone_hn[:, 0].numpy()).max())
            assert not out[row, length:].any()  # zero past the length, as pad_packed_sequence
    return float(max(errors))


def check_continued_matches_one_pass(cell: Cell, **kwargs: Any) -> float:
    """float32: 3 steps, then 4 with the state carried, against 7 at once in torch and in NumPy.
    Returns the largest absolute difference."""
    params = {k: v.astype(np.float32) for k, v in random_params(cell).items()}
    x, h0 = (a.astype(np.float32) for a in random_inputs(steps=7))
    first, h, _ = cell.model.forward(x[:, :3], params, h0, **kwargs)
    second, h, _ = cell.model.forward(x[:, 3:], params, h, **kwargs)
    out, hn, _ = cell.model.forward(x, params, h0, **kwargs)
    with torch.inference_mode():
        module = _torch_module(cell, params, torch.float32, **kwargs)
        ref_out, ref_hn = module(torch.from_numpy(x), torch.from_numpy(h0))
    chunked = np.concatenate((first, second), axis=1)  # (B, 7, H)
    np.testing.assert_allclose(chunked, out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h, hn, rtol=0, atol=1e-6)
    errors = [np.abs(chunked - ref_out.numpy()).max(), np.abs(h - ref_hn.numpy()).max()]
    return float(max(errors))


def gradient_errors(cell: Cell, dropout: float = 0.0, **kwargs: Any) -> dict[str, float]:
    """float64, ragged, with h0: backward's gradients of sum(out * R) + sum(hn * R_h), against
    central differences, as relative errors for every parameter, x and h0. With dropout, each
    run draws the same masks from the same seed, so the loss is a fixed function."""
    params = random_params(cell)
    x, h0 = random_inputs()

    def run() -> tuple[np.ndarray, np.ndarray, Any]:
        rng = np.random.default_rng(3)
        out, hn, cache = cell.model.forward(x, params, h0, RAGGED, dropout, rng, **kwargs)
        return out, hn, cache

    out, hn, cache = run()
    if dropout > 0:
        assert not cache.layers[1].drop.all()  # some units of the second layer's input dropped
    rng = np.random.default_rng(2)
    r_out, r_h = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)

    def loss() -> float:
        out, hn, _ = run()
        return float(np.sum(out * r_out) + np.sum(hn * r_h))

    dx, grads, dh0 = cell.model.backward(r_out, cache, r_h)
    assert list(grads) == list(params)  # every parameter, in state-dict order
    analytic = {**grads, "x": dx, "h0": dh0}
    arrays = {**params, "x": x, "h0": h0}
    return {
        name: _rel_error(analytic[name], _numerical_grad(loss, a)) for name, a in arrays.items()
    }


def autograd_errors(cell: Cell, **kwargs: Any) -> dict[str, float]:
    """float64, ragged, with h0: backward's gradients of sum(out * R) + sum(hn * R_h) against
    torch autograd's, as relative errors for every parameter, x and h0."""
    params = random_params(cell)
    x, h0 = random_inputs()
    out, hn, cache = cell.model.forward(x, params, h0, RAGGED, **kwargs)
    rng = np.random.default_rng(2)
    r_out, r_h = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)
    dx, grads, dh0 = cell.model.backward(r_out, cache, r_h)
    module = _torch_module(cell, params, torch.float64, **kwargs)
    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out_t, hn_t = _torch_run(module, x_t, h0_t, RAGGED)
    loss_t = (out_t * torch.from_numpy(r_out)).sum() + (hn_t * torch.from_numpy(r_h)).sum()
    loss_t.backward()  # type: ignore[no-untyped-call]
    reference = {cell.prefix + name: p.grad for name, p in module.named_parameters()}
    reference |= {"x": x_t.grad, "h0": h0_t.grad}
    errors = {}
    for name, mine in {**grads, "x": dx, "h0": dh0}.items():
        theirs = reference[name]
        assert theirs is not None
        errors[name] = _rel_error(mine, theirs.numpy())
    return errors


def check_padding_gets_no_gradient_and_backward_needs_a_cache(cell: Cell) -> None:
    params = random_params(cell)
    x, h0 = random_inputs()
    _, _, cache = cell.model.forward(x, params, h0, RAGGED)
    dx, _, _ = cell.model.backward(np.ones((BATCH, STEPS, HIDDEN)), cache)
    for row, length in enumerate(RAGGED):
        assert not dx[row, length:].any()
        assert np.abs(dx[row, :length]).min() > 0
    _, _, no_cache = cell.model.forward(x, params, h0, keep_cache=False)
    with pytest.raises(ValueError, match="keep_cache"):
        cell.model.backward(None, no_cache)


@NONLINEARITIES
@pytest.mark.parametrize("with_h0", [True, False], ids=["h0", "zero-state"])
def test_float32_ragged_forward_matches_torch(nonlinearity: str, with_h0: bool) -> None:
    error = check_forward_matches_torch(RNN, with_h0, nonlinearity=nonlinearity)
    assert error < 1e-5


@NONLINEARITIES
def test_float32_forward_continued_with_carried_state_matches_one_pass(nonlinearity: str) -> None:
    assert check_continued_matches_one_pass(RNN, nonlinearity=nonlinearity) < 1e-5


@NONLINEARITIES
@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
def test_gradient_check(nonlinearity: str, dropout: float) -> None:
    errors = gradient_errors(RNN, dropout, nonlinearity=nonlinearity)
    assert max(errors.values()) < 1e-6, errors


@NONLINEARITIES
def test_float64_gradients_match_torch_autograd(nonlinearity: str) -> None:
    errors = autograd_errors(RNN, nonlinearity=nonlinearity)
    assert max(errors.values()) < 1e-8, errors


def test_padded_inputs_get_no_gradient_and_backward_needs_a_cache() -> None:
    check_padding_gets_no_gradient_and_backward_needs_a_cache(RNN)


def test_unknown_nonlinearity_and_dropout_without_rng_are_refused() -> None:
    params = random_params(RNN)
    x, _ = random_inputs()
    with pytest.raises(ValueError, match="tanh or relu"):
        nr.forward(x, params, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="rng"):
        nr.forward(x, params, dropout=0.5)
