"""The classic recurrent regressor in NumPy alone, for every cell: the recurrent layers of
model/numpy_lstm.py, model/numpy_gru.py or model/numpy_rnn.py (chosen by the parameters' names:
`lstm.`, `gru.`, `rnn.`), the linear head `fc` on each sequence's last real step, the MSE loss
and its gradients, and PyTorch's initialisation. The state is (h, c) for an LSTM and (h, None)
for a GRU or an RNN, which have no cell state. An RNN's activation is not in its weights: it is
the `nonlinearity` argument. Never imports torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from model import numpy_gru, numpy_lstm, numpy_rnn
from model.checkpoint import expected_shapes
from model.config import CELLS, Cell, LSTMConfig
from model.numpy_lstm import Params


def cell_of(params: Params) -> Cell:
    """The cell whose layers `params` holds."""
    for cell in CELLS:
        if f"{cell}.weight_ih_l0" in params:
            return cell
    raise ValueError("the parameters hold no lstm., gru. or rnn. layers")


def init_params(
    config: LSTMConfig, rng: np.random.Generator, dtype: type[np.floating] = np.float32
) -> Params:
    """PyTorch's default initialisation: nn.LSTM, nn.GRU and nn.RNN draw every weight and bias
    from U(-1/sqrt(H), 1/sqrt(H)), and nn.Linear(H, O) draws from the same interval (its fan-in
    is H)."""
    bound = 1.0 / np.sqrt(config.hidden_size)
    return {
        key: rng.uniform(-bound, bound, size=shape).astype(dtype)
        for key, shape in expected_shapes(config).items()
    }


def forward(
    x: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    keep_cache: bool = True,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]:
    """The recurrent layers: out (B, T, H), hn and (an LSTM's) cn (L, B, H), the cache."""
    cell = cell_of(params)
    if cell == "lstm":
        return numpy_lstm.forward(x, params, h0, c0, lengths, dropout, rng, keep_cache)
    if c0 is not None:
        raise ValueError(f"a {cell} has no cell state")
    if cell == "gru":
        out, hn, gru_cache = numpy_gru.forward(x, params, h0, lengths, dropout, rng, keep_cache)
        return out, hn, None, gru_cache
    out, hn, rnn_cache = numpy_rnn.forward(
        x, params, h0, lengths, dropout, rng, keep_cache, nonlinearity
    )
    return out, hn, None, rnn_cache


def backward(
    d_out: np.ndarray | None,
    cache: Any,
    dhn: np.ndarray | None = None,
    dcn: np.ndarray | None = None,
) -> tuple[np.ndarray, Params, np.ndarray, np.ndarray | None]:
    """dX, the layers' gradients, dh0 and (an LSTM's) dc0, from `forward`'s cache."""
    if isinstance(cache, numpy_lstm.Cache):
        return numpy_lstm.backward(d_out, cache, dhn, dcn)
    module = numpy_gru if isinstance(cache, numpy_gru.Cache) else numpy_rnn
    d_x, grads, dh0 = module.backward(d_out, cache, dhn)
    return d_x, grads, dh0, None


def head_forward(h_last: np.ndarray, params: Params) -> np.ndarray:
    """h_last: (B, H), the top layer's state at each sequence's last real step -> (B, O)."""
    weight = params["fc.weight"].astype(h_last.dtype, copy=False)  # (O, H)
    bias = params["fc.bias"].astype(h_last.dtype, copy=False)  # (O,)
    return h_last @ weight.T + bias  # type: ignore[no-any-return]


def head_backward(
    d_pred: np.ndarray, h_last: np.ndarray, params: Params
) -> tuple[np.ndarray, Params]:
    """d_pred: (B, O) -> gradient of h_last (B, H) and of `fc.weight`, `fc.bias`."""
    weight = params["fc.weight"].astype(d_pred.dtype, copy=False)  # (O, H)
    d_h = d_pred @ weight  # (B, H)
    return d_h, {"fc.weight": d_pred.T @ h_last, "fc.bias": d_pred.sum(axis=0)}


def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over every element, as nn.MSELoss(); returns the loss and its gradient in pred."""
    diff = pred - target  # (B, O)
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def loss_and_grads(
    x: np.ndarray,
    y: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    nonlinearity: str = "tanh",
) -> tuple[float, Params, np.ndarray, np.ndarray | None]:
    """MSE of fc(h at each last real step) against y (B, O): loss, gradients of every
    parameter (state-dict names and order), dh0 and (an LSTM's) dc0 (L, B, H)."""
    _, hn, _, cache = forward(x, params, h0, c0, lengths, dropout, rng, True, nonlinearity)
    pred = head_forward(hn[-1], params)  # (B, O)
    loss, d_pred = mse_loss(pred, y.astype(pred.dtype, copy=False))
    d_h_last, head_grads = head_backward(d_pred, hn[-1], params)
    # The loss reads the top layer's final state only, so the gradient enters through dhn.
    dhn = np.zeros_like(hn)  # (L, B, H)
    dhn[-1] = d_h_last
    _, grads, dh0, dc0 = backward(None, cache, dhn, None)
    return loss, {**grads, **head_grads}, dh0, dc0


def step_loss_and_grads(
    x: np.ndarray,
    y: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    nonlinearity: str = "tanh",
) -> tuple[float, Params, np.ndarray, np.ndarray | None]:
    """Per-step targets y (B, T, O): the MSE of fc at every step, the gradients of every
    parameter (state-dict names and order), and the final hn and (an LSTM's) cn (L, B, H), from
    which the next chunk of a streamed sequence goes on."""
    out, hn, cn, cache = forward(x, params, h0, c0, None, dropout, rng, True, nonlinearity)
    batch, steps, hidden = out.shape
    pred = head_forward(out, params)  # (B, T, O)
    loss, d_pred = mse_loss(pred, y.astype(pred.dtype, copy=False))
    flat = d_pred.reshape(batch * steps, -1)  # (B*T, O): every step is a sample of the head
    d_flat, head_grads = head_backward(flat, out.reshape(batch * steps, hidden), params)
    # The loss reads every step's output; the final state reaches it only through them.
    _, grads, _, _ = backward(d_flat.reshape(batch, steps, hidden), cache)
    return loss, {**grads, **head_grads}, hn, cn


def predict(
    x: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    return_steps: bool = False,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Predictions (B, O), hn and (an LSTM's) cn (L, B, H) and, with `return_steps`, fc at every
    step (B, T, O), zero past each length (as the torch model returns them)."""
    out, hn, cn, cache = forward(x, params, h0, c0, lengths, 0.0, None, False, nonlinearity)
    steps = None
    if return_steps:
        steps = head_forward(out, params)  # (B, T, O)
        if cache.mask is not None:
            steps = steps * cache.mask.transpose(1, 0, 2)  # (B, T, 1) zero past each length
    return head_forward(hn[-1], params), hn, cn, steps
