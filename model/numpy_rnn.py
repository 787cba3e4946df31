"""The Elman RNN in NumPy alone, as model/numpy_lstm.py has the LSTM: a stateless multi-layer
`forward` that returns a cache, and a `backward` that takes gradients of the outputs and final
state and returns gradients of the inputs, weights and initial state.

Parameters are PyTorch's nn.RNN state dict as NumPy arrays under the prefix `rnn.`
(`rnn.weight_ih_l{k}` (H, in), `rnn.weight_hh_l{k}` (H, H), `rnn.bias_ih_l{k}`,
`rnn.bias_hh_l{k}` (H,)); each step is h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu.

Also the pieces of the layer loop that every network with the state h alone shares
(model/numpy_gru.py imports them): the input made time-major, dropout between layers, gradients in
state-dict order. Time-major inside, float32 or float64 by the dtype of x, ragged batches through
`lengths` (a padded step leaves the state as it was; outputs are zero past each length).
Never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from model.errors import InvalidInput
from model.numpy_lstm import Params, step_mask

NONLINEARITIES = ("tanh", "relu")
# One layer's gradients in state-dict order: weight_ih, weight_hh, bias_ih, bias_hh.
LayerGrads = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class LayerCache(NamedTuple):
    """What one layer's backward needs from its forward, time-major."""

    x: np.ndarray  # (T, B, in) the layer's input (after dropout)
    hs: np.ndarray  # (T+1, B, H) hidden state before step t at hs[t]; hs[T] is the final state
    drop: np.ndarray | None  # (T, B, in) scaled dropout mask applied to x, None without dropout


class Cache(NamedTuple):
    layers: list[LayerCache]
    mask: np.ndarray | None  # (T, B, 1) True where step t is a real step; None when all are
    weights: list[tuple[np.ndarray, np.ndarray]]  # per layer (weight_ih, weight_hh), cast
    nonlinearity: str


def num_layers(params: Params) -> int:
    return sum(1 for key in params if key.startswith("rnn.weight_ih_l"))


def time_major(
    x: np.ndarray, h0: np.ndarray | None, layers: int, hidden: int
) -> tuple[np.ndarray, np.ndarray]:
    """x (B, T, F) -> (T, B, F) contiguous, in float64 if x is float64 and float32 otherwise;
    h0 (L, B, H) cast to that dtype, zeros when None."""
    if x.ndim != 3:
        raise InvalidInput(f"x must be (B, T, F), got shape {list(x.shape)}", ("inputs",))
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    shape = (layers, x.shape[0], hidden)
    if h0 is None:
        h0 = np.zeros(shape, dtype)
    elif h0.shape != shape:
        raise InvalidInput(f"h0 must be {list(shape)}, got {list(h0.shape)}", ("state", "h"))
    seq: np.ndarray = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype)  # (T, B, F)
    return seq, h0.astype(dtype, copy=False)


def drop_inputs(
    seq: np.ndarray, dropout: float, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Dropout on the input (T, B, in) of a layer above the first, as nn.RNN, nn.GRU and nn.LSTM
    apply it in training mode. Returns the input and the scaled mask (None without dropout)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if dropout == 0.0:
        return seq, None
    if rng is None:
        raise ValueError("dropout needs an rng")
    # Inverted dropout: scale the kept units so the expected input is unchanged.
    drop = ((rng.random(seq.shape) >= dropout) / (1.0 - dropout)).astype(seq.dtype)
    return seq * drop, drop


def state_dict_grads(prefix: str, per_layer: list[LayerGrads]) -> Params:
    """Gradients named and ordered as the state dict: layer by layer, weight_ih, weight_hh,
    bias_ih, bias_hh."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {
        f"{prefix}{name}_l{k}": grad
        for k, grads in enumerate(per_layer)
        for name, grad in zip(names, grads, strict=True)
    }


def _layer_forward(
    x: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray, np.ndarray],
    h: np.ndarray,
    mask: np.ndarray | None,
    nonlinearity: str,
    keep: bool,
) -> tuple[np.ndarray, np.ndarray, LayerCache | None]:
    """x: (T, B, in); weights: weight_ih (H, in), weight_hh (H, H), summed bias (H,); h: (B, H).
    Returns the output (T, B, H) zero past each length, the final h (B, H), and the cache."""
    weight_ih, weight_hh, bias = weights
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    # The input projection of every step in one matmul; only h @ W_hh^T stays in the time loop.
    pre_x = (x.reshape(steps * batch, -1) @ weight_ih.T).reshape(steps, batch, hidden)
    pre_x += bias  # (T, B, H) both biases sit outside the activation: they add up
    out = np.empty((steps, batch, hidden), x.dtype)  # (T, B, H)
    h0, weight_hh_t = h, weight_hh.T  # (B, H), (H, H)
    for t in range(steps):
        h_new = pre_x[t] + h @ weight_hh_t  # (B, H)
        if nonlinearity == "tanh":
            np.tanh(h_new, out=h_new)
        else:
            np.maximum(h_new, 0.0, out=h_new)
        h = h_new if mask is None else np.where(mask[t], h_new, h)  # padding keeps the state
        out[t] = h
    # Before masking, out holds the state after every step: the cache takes it from there.
    cache = LayerCache(x, np.concatenate((h0[None], out)), None) if keep else None
    if mask is not None:
        out *= mask  # (T, B, H) zero past each length, as pad_packed_sequence returns it
    return out, h, cache


def forward(
    x: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    keep_cache: bool = True,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, Cache]:
    """x: (B, T, F); h0: (L, B, H) or None for zeros; lengths: (B,) or None for all T.

    Returns out (B, T, H) the top layer's output (zero past each length), hn (L, B, H) at each
    sequence's last real step, and the cache for `backward`. `dropout` > 0 (with `rng`) drops
    the inputs of layers above the first, as nn.RNN does in training mode. `keep_cache=False`
    (inference) returns a cache without layers, which `backward` refuses.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity is tanh or relu, not {nonlinearity!r}")
    layers = num_layers(params)
    seq, h0 = time_major(x, h0, layers, params["rnn.weight_hh_l0"].shape[1])  # (T, B, F)
    dtype = seq.dtype
    mask = step_mask(lengths, seq.shape[0], seq.shape[1])  # (T, B, 1) or None
    hn = np.empty_like(h0)  # (L, B, H)
    caches, weights = [], []
    for k in range(layers):
        weight_ih = params[f"rnn.weight_ih_l{k}"].astype(dtype, copy=False)  # (H, in)
        weight_hh = params[f"rnn.weight_hh_l{k}"].astype(dtype, copy=False)  # (H, H)
        bias = (params[f"rnn.bias_ih_l{k}"] + params[f"rnn.bias_hh_l{k}"]).astype(dtype)
        drop = None
        if k > 0:
            seq, drop = drop_inputs(seq, dropout, rng)  # (T, B, H)
        layer = (weight_ih, weight_hh, bias)
        seq, hn[k], cache = _layer_forward(seq, layer, h0[k], mask, nonlinearity, keep_cache)
        if cache is not None:
            caches.append(cache._replace(drop=drop))
        weights.append((weight_ih, weight_hh))
    return seq.transpose(1, 0, 2), hn, Cache(caches, mask, weights, nonlinearity)


def _layer_backward(
    d_out: np.ndarray,
    cache: LayerCache,
    weights: tuple[np.ndarray, np.ndarray],
    dh: np.ndarray,
    mask: np.ndarray | None,
    nonlinearity: str,
) -> tuple[np.ndarray, LayerGrads, np.ndarray]:
    """d_out: (T, B, H) gradient of the layer output; dh: (B, H) of its final state.
    Returns dx (T, B, in), the layer's gradients and dh0 (B, H)."""
    weight_ih, weight_hh = weights
    steps, batch, hidden = d_out.shape
    d_pre = np.empty_like(d_out)  # (T, B, H) gradient of the pre-activation
    for t in reversed(range(steps)):
        dh_t = dh + d_out[t]  # (B, H) from the next step and from this step's output
        if mask is not None:  # a padded step computed nothing, so nothing flows into it
            dh_t = np.where(mask[t], dh_t, 0.0)
        h_t = cache.hs[t + 1]  # (B, H) act(pre) at every real step
        if nonlinearity == "tanh":
            d_pre[t] = dh_t * (1.0 - h_t * h_t)
        else:  # relu passes the gradient where its output is positive, as torch's does
            d_pre[t] = dh_t * (h_t > 0.0)
        dh_prev = d_pre[t] @ weight_hh  # (B, H)
        # Past its length a sequence's state passed through unchanged, and so does dh.
        dh = dh_prev if mask is None else np.where(mask[t], dh_prev, dh)
    # Weight gradients summed over steps and batch in one matmul each, outside the loop.
    flat = d_pre.reshape(steps * batch, hidden)  # (T*B, H)
    d_weight_ih = flat.T @ cache.x.reshape(steps * batch, -1)  # (H, in)
    d_weight_hh = flat.T @ cache.hs[:-1].reshape(steps * batch, hidden)  # (H, H)
    d_bias = flat.sum(axis=0)  # (H,) both biases enter as a sum: the same gradient
    dx = (flat @ weight_ih).reshape(steps, batch, -1)  # (T, B, in)
    return dx, (d_weight_ih, d_weight_hh, d_bias, d_bias.copy()), dh


def backward(
    d_out: np.ndarray | None, cache: Cache, dhn: np.ndarray | None = None
) -> tuple[np.ndarray, Params, np.ndarray]:
    """d_out: (B, T, H) gradient of forward's out (None for zero); dhn: (L, B, H) of hn.

    Returns dX (B, T, F), the gradients of every `rnn.*` parameter (state-dict names and
    order), and dh0 (L, B, H).
    """

    def layer(
        k: int, d_seq: np.ndarray, dh: np.ndarray
    ) -> tuple[np.ndarray, LayerGrads, np.ndarray]:
        return _layer_backward(
            d_seq, cache.layers[k], cache.weights[k], dh, cache.mask, cache.nonlinearity
        )

    return backward_layers(d_out, cache.layers, dhn, "rnn.", layer)


def backward_layers(
    d_out: np.ndarray | None,
    layers: Sequence[Any],
    dhn: np.ndarray | None,
    prefix: str,
    layer_backward: Callable[
        [int, np.ndarray, np.ndarray], tuple[np.ndarray, LayerGrads, np.ndarray]
    ],
) -> tuple[np.ndarray, Params, np.ndarray]:
    """The layers' backward passes from the top down, shared by the GRU and the RNN:
    `layer_backward(k, d_seq, dh)` gives layer k's dx (T, B, in), gradients and dh0 (B, H)
    from the gradient of its output (T, B, H) and of its final state (B, H). Each layer cache
    has `hs` (T+1, B, H) and `drop`."""
    if not layers:
        raise ValueError("backward needs the cache of forward(..., keep_cache=True)")
    hs = layers[-1].hs  # (T+1, B, H)
    steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dh0 = np.zeros((len(layers), batch, hidden), hs.dtype)  # (L, B, H)
    dhn = np.zeros_like(dh0) if dhn is None else dhn
    # Time-major from here on: (T, B, H), then (T, B, in) as it descends the layers.
    d_seq = (
        np.zeros((steps, batch, hidden), hs.dtype) if d_out is None else d_out.transpose(1, 0, 2)
    )
    per_layer: list[LayerGrads] = []
    for k in reversed(range(len(layers))):
        d_x, grads, dh0[k] = layer_backward(k, d_seq, dhn[k])
        per_layer.insert(0, grads)
        d_seq = d_x if layers[k].drop is None else d_x * layers[k].drop  # (T, B, in)
    return d_seq.transpose(1, 0, 2), state_dict_grads(prefix, per_layer), dh0
