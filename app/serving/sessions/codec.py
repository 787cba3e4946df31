"""A kept state as bytes for the shared stores: three little-endian uint32 (num_layers, B,
hidden_size), then h and c as float32 in C order. No pickle: the bytes come back from a file or
a server another process writes to."""

from __future__ import annotations

import struct

import numpy as np

from app.serving.batch import LSTMState

_SHAPE = struct.Struct("<III")


def encode_state(state: LSTMState) -> bytes:
    h, c = (np.ascontiguousarray(part, dtype="<f4") for part in state)
    return _SHAPE.pack(*h.shape) + h.tobytes() + c.tobytes()


def decode_state(blob: bytes) -> LSTMState:
    shape = _SHAPE.unpack_from(blob)
    count = shape[0] * shape[1] * shape[2]
    values = np.frombuffer(blob, dtype="<f4", offset=_SHAPE.size)
    if values.size != 2 * count:
        raise ValueError(f"a kept state of shape {shape} has {values.size} values, not {2 * count}")
    # Copies, native float32: the batcher writes into merged states, never into these bytes.
    h = values[:count].reshape(shape).astype(np.float32)
    c = values[count:].reshape(shape).astype(np.float32)
    return h, c
