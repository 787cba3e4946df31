"""The GRU in NumPy alone, as model/numpy_lstm.py has the LSTM: a stateless multi-layer
`forward` that returns a cache, and a `backward` that takes gradients of the outputs and final
state and returns gradients of the inputs, weights and initial state.

Parameters are PyTorch's nn.GRU state dict as NumPy arrays under the prefix `gru.`
(`gru.weight_ih_l{k}` (3H, in), `gru.weight_hh_l{k}` (3H, H), `gru.bias_ih_l{k}`,
`gru.bias_hh_l{k}` (3H,)); the three row blocks are the reset, update and candidate gates, in
that order (r, z, n), and each step follows PyTorch's equations:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

b_hn sits inside r * (...): the two biases add up for r and z but not for n, and their
gradients differ. Time-major inside, float32 or float64 by the dtype of x, ragged batches through
`lengths`; the layer loop's shared pieces come from model/numpy_rnn.py. Never imports torch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from model.numpy_lstm import Params, step_mask
from model.numpy_rnn import LayerGrads, backward_layers, drop_inputs, time_major


class LayerCache(NamedTuple):
    """What one layer's backward needs from its forward, time-major."""

    x: np.ndarray  # (T, B, in) the layer's input (after dropout)
    gates: np.ndarray  # (T, B, 3H) activations of r, z, n
    hn_pre: np.ndarray  # (T, B, H) W_hn h + b_hn, the part of n's input that r scales
    hs: np.ndarray  # (T+1, B, H) hidden state before step t at hs[t]; hs[T] is the final state
    drop: np.ndarray | None  # (T, B, in) scaled dropout mask applied to x, None without dropout


class Cache(NamedTuple):
    layers: list[LayerCache]
    mask: np.ndarray | None  # (T, B, 1) True where step t is a real step; None when all are
    weights: list[tuple[np.ndarray, np.ndarray]]  # per layer (weight_ih, weight_hh), cast


def num_layers(params: Params) -> int:
    return sum(1 for key in params if key.startswith("gru.weight_ih_l"))


def _cell(
    pre_x: np.ndarray,
    pre_h: np.ndarray,
    bias_hn: np.ndarray,
    h_prev: np.ndarray,
    act: np.ndarray,
    hn_pre: np.ndarray,
) -> np.ndarray:
    """One step from the input's pre-activations pre_x (B, 3H) (both biases in r and z, b_in in
    n), h_prev @ W_hh^T as pre_h (B, 3H), and h_prev (B, H): writes the activations of r, z, n
    into act (B, 3H) and W_hn h + b_hn into hn_pre (B, H); returns the new h (B, H)."""
    hidden = h_prev.shape[1]
    h1, h2 = hidden, 2 * hidden
    gates = act[:, :h2]  # (B, 2H) r and z
    np.add(pre_x[:, :h2], pre_h[:, :h2], out=gates)
    # sigmoid(x) = (tanh(x / 2) + 1) / 2, in place: never overflows, allocates nothing.
    gates *= 0.5
    np.tanh(gates, out=gates)
    gates *= 0.5
    gates += 0.5
    np.add(pre_h[:, h2:], bias_hn, out=hn_pre)
    r, z, n = act[:, :h1], act[:, h1:h2], act[:, h2:]  # (B, H) each
    np.multiply(r, hn_pre, out=n)  # the reset gate scales the hidden part, bias included
    n += pre_x[:, h2:]
    np.tanh(n, out=n)
    h_new: np.ndarray = n + z * (h_prev - n)  # (B, H) = (1 - z) * n + z * h_prev
    return h_new


def _layer_forward(
    x: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    h: np.ndarray,
    mask: np.ndarray | None,
    keep: bool,
) -> tuple[np.ndarray, np.ndarray, LayerCache | None]:
    """x: (T, B, in); weights: weight_ih (3H, in), weight_hh (3H, H), bias_ih, bias_hh (3H,);
    h: (B, H). Returns the output (T, B, H) zero past each length, the final h, and the cache."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    h2 = 2 * hidden
    # The input projection of every step in one matmul; only h @ W_hh^T stays in the time loop.
    pre_x = (x.reshape(steps * batch, -1) @ weight_ih.T).reshape(steps, batch, 3 * hidden)
    pre_x += bias_ih  # (T, B, 3H)
    pre_x[:, :, :h2] += bias_hh[:h2]  # b_hr and b_hz sit outside the gates' sum: add them here
    bias_hn = bias_hh[h2:]  # (H,) inside r * (...): added at every step
    # Without a cache, one step's scratch is reused (page faults cost more than the arithmetic).
    kept = steps if keep else 1
    gates = np.empty((kept, batch, 3 * hidden), x.dtype)  # (T, B, 3H) activations r, z, n
    hn_pre = np.empty((kept, batch, hidden), x.dtype)  # (T, B, H)
    out = np.empty((steps, batch, hidden), x.dtype)  # (T, B, H)
    h0, weight_hh_t = h, weight_hh.T  # (B, H), (H, 3H)
    for t in range(steps):
        slot = t if keep else 0
        h_new = _cell(pre_x[t], h @ weight_hh_t, bias_hn, h, gates[slot], hn_pre[slot])
        h = h_new if mask is None else np.where(mask[t], h_new, h)  # padding keeps the state
        out[t] = h
    # Before masking, out holds the state after every step: the cache takes it from there.
    cache = LayerCache(x, gates, hn_pre, np.concatenate((h0[None], out)), None) if keep else None
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
) -> tuple[np.ndarray, np.ndarray, Cache]:
    """x: (B, T, F); h0: (L, B, H) or None for zeros; lengths: (B,) or None for all T.

    Returns out (B, T, H) the top layer's output (zero past each length), hn (L, B, H) at each
    sequence's last real step, and the cache for `backward`. `dropout` > 0 (with `rng`) drops
    the inputs of layers above the first, as nn.GRU does in training mode. `keep_cache=False`
    (inference) returns a cache without layers, which `backward` refuses.
    """
    layers = num_layers(params)
    seq, h0 = time_major(x, h0, layers, params["gru.weight_hh_l0"].shape[1])  # (T, B, F)
    dtype = seq.dtype
    mask = step_mask(lengths, seq.shape[0], seq.shape[1])  # (T, B, 1) or None
    hn = np.empty_like(h0)  # (L, B, H)
    caches, weights = [], []
    for k in range(layers):
        weight_ih, weight_hh, bias_ih, bias_hh = (
            params[f"gru.{name}_l{k}"].astype(dtype, copy=False)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )  # (3H, in), (3H, H), (3H,), (3H,)
        drop = None
        if k > 0:
            seq, drop = drop_inputs(seq, dropout, rng)  # (T, B, H)
        seq, hn[k], cache = _layer_forward(
            seq, (weight_ih, weight_hh, bias_ih, bias_hh), h0[k], mask, keep_cache
        )
        if cache is not None:
            caches.append(cache._replace(drop=drop))
        weights.append((weight_ih, weight_hh))
    return seq.transpose(1, 0, 2), hn, Cache(caches, mask, weights)


def _layer_backward(
    d_out: np.ndarray,
    cache: LayerCache,
    weights: tuple[np.ndarray, np.ndarray],
    dh: np.ndarray,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, LayerGrads, np.ndarray]:
    """d_out: (T, B, H) gradient of the layer output; dh: (B, H) of its final state.
    Returns dx (T, B, in), the layer's gradients and dh0 (B, H)."""
    weight_ih, weight_hh = weights
    steps, batch, hidden = d_out.shape
    h1, h2 = hidden, 2 * hidden
    # Gradients of the two projections' outputs, W_ih x + b_ih and W_hh h + b_hh: equal in the r
    # and z blocks, while in n the hidden one goes through r.
    d_px = np.empty_like(cache.gates)  # (T, B, 3H)
    d_ph = np.empty_like(cache.gates)  # (T, B, 3H)
    for t in reversed(range(steps)):
        act = cache.gates[t]  # (B, 3H)
        r, z, n = act[:, :h1], act[:, h1:h2], act[:, h2:]  # (B, H) each
        h_prev = cache.hs[t]  # (B, H)
        dh_t = dh + d_out[t]  # (B, H) from the next step and from this step's output
        if mask is not None:  # a padded step computed nothing, so nothing flows into it
            dh_t = np.where(mask[t], dh_t, 0.0)
        d_n = dh_t * (1.0 - z) * (1.0 - n * n)  # (B, H) n's pre-activation
        d_ph[t, :, :h1] = d_n * cache.hn_pre[t] * r * (1.0 - r)  # reset gate
        d_ph[t, :, h1:h2] = dh_t * (h_prev - n) * z * (1.0 - z)  # update gate
        d_ph[t, :, h2:] = d_n * r  # W_hn h + b_hn
        d_px[t, :, h2:] = d_n  # W_in x + b_in
        dh_prev = d_ph[t] @ weight_hh + dh_t * z  # (B, H) through the matmul and through z * h
        # Past its length a sequence's state passed through unchanged, and so does dh.
        dh = dh_prev if mask is None else np.where(mask[t], dh_prev, dh)
    d_px[:, :, :h2] = d_ph[:, :, :h2]
    # Weight gradients summed over steps and batch in one matmul each, outside the loop.
    flat_x = d_px.reshape(steps * batch, 3 * hidden)  # (T*B, 3H)
    flat_h = d_ph.reshape(steps * batch, 3 * hidden)  # (T*B, 3H)
    d_weight_ih = flat_x.T @ cache.x.reshape(steps * batch, -1)  # (3H, in)
    d_weight_hh = flat_h.T @ cache.hs[:-1].reshape(steps * batch, hidden)  # (3H, H)
    dx = (flat_x @ weight_ih).reshape(steps, batch, -1)  # (T, B, in)
    return dx, (d_weight_ih, d_weight_hh, flat_x.sum(axis=0), flat_h.sum(axis=0)), dh


def backward(
    d_out: np.ndarray | None, cache: Cache, dhn: np.ndarray | None = None
) -> tuple[np.ndarray, Params, np.ndarray]:
    """d_out: (B, T, H) gradient of forward's out (None for zero); dhn: (L, B, H) of hn.

    Returns dX (B, T, F), the gradients of every `gru.*` parameter (state-dict names and
    order), and dh0 (L, B, H).
    """

    def layer(
        k: int, d_seq: np.ndarray, dh: np.ndarray
    ) -> tuple[np.ndarray, LayerGrads, np.ndarray]:
        return _layer_backward(d_seq, cache.layers[k], cache.weights[k], dh, cache.mask)

    return backward_layers(d_out, cache.layers, dhn, "gru.", layer)
