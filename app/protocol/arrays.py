"""Checks on decoded arrays, shared by the binary /v1 bodies (.npy, .npz) and the Open Inference
Protocol's tensors: the float types and (B, T, F) shape of inputs, numbers within float32's range
(refused with the JSON schema's message), the lengths of a ragged batch and its zero padding."""

from __future__ import annotations

import numpy as np

from app.protocol.v1.schemas import FLOAT32_MAX
from model.errors import InvalidInput

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def dense(array: np.ndarray, location: tuple[str, ...]) -> np.ndarray:
    """A non-empty (B, T, F) array of float32 or float64, in any byte order."""
    name = ".".join(location)
    if array.dtype.newbyteorder("=") not in _FLOATS:
        raise InvalidInput(f"{name} must be float32 or float64, not {array.dtype}", location)
    if array.ndim != 3 or array.size == 0:
        raise InvalidInput(f"{name} must have shape (B, T, F), got {list(array.shape)}", location)
    return array


def to_float32(array: np.ndarray, location: tuple[str, ...]) -> np.ndarray:
    """`array` as float32 once its numbers pass the schema's checks on JSON numbers, refused
    with the schema's message at the first one that does not."""
    bad = ~(np.abs(array) <= FLOAT32_MAX)  # NaN compares false: bad too
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        value = float(array[index])
        if not np.isfinite(value):
            message = "Input should be a finite number"
        elif value > 0:
            message = f"Input should be less than or equal to {FLOAT32_MAX}"
        else:
            message = f"Input should be greater than or equal to {-FLOAT32_MAX}"
        raise InvalidInput(message, (*location, *index))
    return array.astype(np.float32)


def checked_lengths(lengths: np.ndarray | None, inputs: np.ndarray) -> np.ndarray:
    batch, steps = inputs.shape[:2]
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    if lengths.dtype.kind not in "iu" or lengths.shape != (batch,):
        raise InvalidInput("lengths must be (B,) integers, one per sequence", ("lengths",))
    if lengths.min() < 1 or lengths.max() > steps:
        raise InvalidInput(f"every length must be between 1 and T={steps}", ("lengths",))
    return lengths.astype(np.int64)


def zero_padding(inputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The steps past each length are padding: zeros, whatever the client put there."""
    if (lengths == inputs.shape[1]).all():
        return inputs
    padded = inputs.copy()
    padded[np.arange(inputs.shape[1])[None, :] >= lengths[:, None]] = 0  # (B, T) mask
    return padded
