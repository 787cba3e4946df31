"""The LSTM layers in NumPy alone: a stateless multi-layer `forward` that returns a cache, a
`backward` that takes gradients of the outputs and final state and returns gradients of the
inputs, weights and initial state (so truncated BPTT is explicit: pass state forward, drop the
gradient). model/numpy_model.py puts the head and the loss on them (or on model/numpy_gru.py's
or model/numpy_rnn.py's layers).

Parameters are the classic model's state dict as NumPy arrays, in PyTorch's names and layout
(`lstm.weight_ih_l{k}` (4H, in), `lstm.weight_hh_l{k}` (4H, H), `lstm.bias_ih_l{k}`,
`lstm.bias_hh_l{k}` (4H,), `fc.weight` (O, H), `fc.bias` (O,)); the four row blocks of the gate
matrices are the input, forget, candidate and output gates, in that order (i, f, g, o).

Internally sequences are time-major (T, B, ...) so that every step reads a contiguous block.
Never imports torch: this is the torch-free inference backend and the test oracle for the torch
model. Works in float32 and float64 (the dtype of x; parameters are cast to it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from model.errors import InvalidInput

Params = dict[str, np.ndarray]


class LayerCache(NamedTuple):
    """What one layer's backward needs from its forward, time-major."""

    x: np.ndarray  # (T, B, in) the layer's input (after dropout)
    gates: np.ndarray  # (T, B, 4H) activations of i, f, g, o
    hs: np.ndarray  # (T+1, B, H) hidden state before step t at hs[t]; hs[T] is the final state
    cs: np.ndarray  # (T+1, B, H) cell state, same indexing
    tanh_c: np.ndarray  # (T, B, H) tanh of the cell state computed at step t
    drop: np.ndarray | None  # (T, B, in) scaled dropout mask applied to x, None without dropout


class Cache(NamedTuple):
    layers: list[LayerCache]
    mask: np.ndarray | None  # (T, B, 1) True where step t is a real step; None when all are
    weights: list[tuple[np.ndarray, np.ndarray]]  # per layer (weight_ih, weight_hh), cast


def num_layers(params: Params) -> int:
    return sum(1 for key in params if key.startswith("lstm.weight_ih_l"))


def step_mask(lengths: np.ndarray | None, steps: int, batch: int) -> np.ndarray | None:
    """(T, B, 1) bool, True at real steps; None when no sequence is shorter than T."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,) or lengths.min(initial=0) < 0 or lengths.max(initial=0) > steps:
        raise InvalidInput(f"lengths must be {batch} integers in [0, {steps}]", ("lengths",))
    if bool((lengths == steps).all()):
        return None
    return np.arange(steps)[:, None, None] < lengths[None, :, None]


def _cell(
    pre: np.ndarray, c_prev: np.ndarray, act: np.ndarray, tanh_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One step from the gate pre-activations pre (B, 4H) and the cell state c_prev (B, H):
    writes the activations of i, f, g, o into act (B, 4H) and tanh(c) into tanh_c (B, H);
    returns the new h and c (B, H)."""
    hidden = c_prev.shape[1]
    h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
    # One sigmoid pass over all four blocks (i, f, o need it), then g gets its tanh.
    # sigmoid(x) = (tanh(x / 2) + 1) / 2, in place: never overflows, allocates nothing.
    np.multiply(pre, 0.5, out=act)
    np.tanh(act, out=act)
    act *= 0.5
    act += 0.5
    np.tanh(pre[:, h2:h3], out=act[:, h2:h3])
    i, f, g, o = act[:, :h1], act[:, h1:h2], act[:, h2:h3], act[:, h3:]  # (B, H) each
    c = f * c_prev  # (B, H) keep part of the old cell...
    c += i * g  # ...and write part of the candidate
    np.tanh(c, out=tanh_c)
    return o * tanh_c, c


def _layer_forward(
    x: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray, np.ndarray],
    state: tuple[np.ndarray, np.ndarray],
    mask: np.ndarray | None,
    keep: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, LayerCache | None]:
    """x: (T, B, in); weights: weight_ih (4H, in), weight_hh (4H, H), summed bias (4H,).
    Returns the output (T, B, H) zero past each length, final h and c (B, H), and the cache."""
    weight_ih, weight_hh, bias = weights
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    # The input projection of every step in one matmul; only h @ W_hh^T stays in the time loop.
    pre_x = (x.reshape(steps * batch, -1) @ weight_ih.T).reshape(steps, batch, 4 * hidden)
    pre_x += bias  # (T, B, 4H)
    # Without a cache, one step's scratch is reused: large fresh arrays cost page faults that
    # can outweigh the arithmetic at serving sizes.
    kept = steps if keep else 1
    gates = np.empty((kept, batch, 4 * hidden), x.dtype)  # (T, B, 4H) activations i, f, g, o
    tanh_c = np.empty((kept, batch, hidden), x.dtype)  # (T, B, H)
    hs = np.empty((kept + 1, batch, hidden), x.dtype)  # (T+1, B, H) h before each step
    cs = np.empty_like(hs)  # (T+1, B, H)
    out = np.empty((steps, batch, hidden), x.dtype)  # (T, B, H)
    h, c = state
    hs[0], cs[0] = h, c
    weight_hh_t = weight_hh.T  # (H, 4H)
    for t in range(steps):
        slot = t if keep else 0
        h_new, c_new = _cell(pre_x[t] + h @ weight_hh_t, c, gates[slot], tanh_c[slot])
        if mask is not None:  # a padded step leaves the state as it was
            h_new, c_new = np.where(mask[t], h_new, h), np.where(mask[t], c_new, c)
        h, c = h_new, c_new  # (B, H) each
        hs[slot + 1], cs[slot + 1], out[t] = h, c, h
    if mask is not None:
        out *= mask  # (T, B, H) zero past each length, as pad_packed_sequence returns it
    cache = LayerCache(x, gates, hs, cs, tanh_c, None) if keep else None
    return out, h, c, cache


def forward(
    x: np.ndarray,
    params: Params,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    keep_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Cache]:
    """x: (B, T, F); h0, c0: (L, B, H) or None for zeros; lengths: (B,) or None for all T.

    Returns out (B, T, H) the top layer's output (zero past each length), hn and cn (L, B, H) at
    each sequence's last real step, and the cache for `backward`. `dropout` > 0 (with `rng`)
    drops the inputs of layers above the first, as nn.LSTM does in training mode.
    `keep_cache=False` (inference) returns a cache without layers, which `backward` refuses.
    """
    if x.ndim != 3:
        raise InvalidInput(f"x must be (B, T, F), got shape {list(x.shape)}", ("inputs",))
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    batch, steps, _ = x.shape
    layers = num_layers(params)
    hidden = params["lstm.weight_hh_l0"].shape[1]
    h0 = np.zeros((layers, batch, hidden), dtype) if h0 is None else h0.astype(dtype, copy=False)
    c0 = np.zeros((layers, batch, hidden), dtype) if c0 is None else c0.astype(dtype, copy=False)
    mask = step_mask(lengths, steps, batch)  # (T, B, 1) or None
    seq: np.ndarray = np.ascontiguousarray(
        x.transpose(1, 0, 2), dtype=dtype
    )  # (T, B, F) time-major
    caches, weights = [], []
    hn = np.empty((layers, batch, hidden), dtype)  # (L, B, H)
    cn = np.empty_like(hn)  # (L, B, H)
    for k in range(layers):
        weight_ih = params[f"lstm.weight_ih_l{k}"].astype(dtype, copy=False)  # (4H, in)
        weight_hh = params[f"lstm.weight_hh_l{k}"].astype(dtype, copy=False)  # (4H, H)
        bias = (params[f"lstm.bias_ih_l{k}"] + params[f"lstm.bias_hh_l{k}"]).astype(dtype)
        drop: np.ndarray | None = None
        if k > 0 and dropout > 0.0:
            if rng is None:
                raise ValueError("dropout needs an rng")
            # Inverted dropout: scale the kept units so the expected input is unchanged.
            drop = ((rng.random(seq.shape) >= dropout) / (1.0 - dropout)).astype(dtype)
            seq = seq * drop  # (T, B, H)
        layer = (weight_ih, weight_hh, bias)
        seq, hn[k], cn[k], cache = _layer_forward(seq, layer, (h0[k], c0[k]), mask, keep_cache)
        if cache is not None:
            caches.append(cache._replace(drop=drop))
        weights.append((weight_ih, weight_hh))
    return seq.transpose(1, 0, 2), hn, cn, Cache(caches, mask, weights)


def _layer_backward(
    d_out: np.ndarray,
    cache: LayerCache,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    dh: np.ndarray,
    dc: np.ndarray,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """d_out: (T, B, H) gradient of the layer output; dh, dc: (B, H) of its final state.
    Returns dx (T, B, in), dW_ih, dW_hh, dbias, dh0, dc0."""
    steps, batch, hidden = d_out.shape
    h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
    d_pre = np.empty_like(cache.gates)  # (T, B, 4H) gradient of the gate pre-activations
    for t in reversed(range(steps)):
        act = cache.gates[t]  # (B, 4H)
        i, f, g, o = act[:, :h1], act[:, h1:h2], act[:, h2:h3], act[:, h3:]  # (B, H) each
        tanh_c = cache.tanh_c[t]  # (B, H)
        dh_t = dh + d_out[t]  # (B, H) from the next step and from this step's output
        dc_t = dc
        if mask is not None:  # a padded step computed nothing, so nothing flows into it
            dh_t = np.where(mask[t], dh_t, 0.0)
            dc_t = np.where(mask[t], dc_t, 0.0)
        dc_t = dc_t + dh_t * o * (1.0 - tanh_c * tanh_c)  # (B, H) through h = o * tanh(c)
        d_pre[t, :, :h1] = dc_t * g * i * (1.0 - i)  # input gate
        d_pre[t, :, h1:h2] = dc_t * cache.cs[t] * f * (1.0 - f)  # forget gate
        d_pre[t, :, h2:h3] = dc_t * i * (1.0 - g * g)  # candidate
        d_pre[t, :, h3:] = dh_t * tanh_c * o * (1.0 - o)  # output gate
        dh_prev = d_pre[t] @ weight_hh  # (B, H)
        dc_prev = dc_t * f  # (B, H)
        if mask is None:
            dh, dc = dh_prev, dc_prev
        else:  # past its length a sequence's state passed through unchanged, and so does dh
            dh = np.where(mask[t], dh_prev, dh)
            dc = np.where(mask[t], dc_prev, dc)
    # Weight gradients summed over steps and batch in one matmul each, outside the loop.
    flat = d_pre.reshape(steps * batch, 4 * hidden)  # (T*B, 4H)
    d_weight_ih = flat.T @ cache.x.reshape(steps * batch, -1)  # (4H, in)
    d_weight_hh = flat.T @ cache.hs[:-1].reshape(steps * batch, hidden)  # (4H, H)
    d_bias = flat.sum(axis=0)  # (4H,)
    dx = (flat @ weight_ih).reshape(steps, batch, -1)  # (T, B, in)
    return dx, d_weight_ih, d_weight_hh, d_bias, dh, dc


def backward(
    d_out: np.ndarray | None,
    cache: Cache,
    dhn: np.ndarray | None = None,
    dcn: np.ndarray | None = None,
) -> tuple[np.ndarray, Params, np.ndarray, np.ndarray]:
    """d_out: (B, T, H) gradient of forward's out (None for zero); dhn, dcn: (L, B, H) of hn, cn.

    Returns dX (B, T, F), the gradients of every `lstm.*` parameter (same names), dh0, dc0.
    """
    if not cache.layers:
        raise ValueError("backward needs the cache of forward(..., keep_cache=True)")
    top = cache.layers[-1]
    steps, batch, hidden = top.tanh_c.shape
    layers = len(cache.layers)
    dtype = top.x.dtype
    zeros = np.zeros((layers, batch, hidden), dtype)  # (L, B, H)
    dhn = zeros if dhn is None else dhn
    dcn = zeros if dcn is None else dcn
    # Time-major from here on: (T, B, H), then (T, B, in) as it descends the layers.
    d_seq = np.zeros((steps, batch, hidden), dtype) if d_out is None else d_out.transpose(1, 0, 2)
    dh0, dc0 = np.empty_like(zeros), np.empty_like(zeros)  # (L, B, H)
    grads: Params = {}
    for k in reversed(range(layers)):
        weight_ih, weight_hh = cache.weights[k]
        layer = cache.layers[k]
        d_x, d_w_ih, d_w_hh, d_bias, dh0[k], dc0[k] = _layer_backward(
            d_seq, layer, weight_ih, weight_hh, dhn[k], dcn[k], cache.mask
        )
        grads[f"lstm.weight_ih_l{k}"] = d_w_ih
        grads[f"lstm.weight_hh_l{k}"] = d_w_hh
        grads[f"lstm.bias_ih_l{k}"] = d_bias  # both biases enter as a sum: same gradient
        grads[f"lstm.bias_hh_l{k}"] = d_bias.copy()
        d_seq = d_x if layer.drop is None else d_x * layer.drop  # (T, B, in)
    # The state dict's order: layer by layer, weight_ih, weight_hh, bias_ih, bias_hh.
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ordered = {f"lstm.{n}_l{k}": grads[f"lstm.{n}_l{k}"] for k in range(layers) for n in names}
    return d_seq.transpose(1, 0, 2), ordered, dh0, dc0
