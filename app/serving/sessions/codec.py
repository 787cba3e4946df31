"""A kept state as bytes for the shared stores: three little-endian uint32 (num_layers, B,
hidden_size), then h and (an LSTM's) c as float32 in C order; a GRU's or an RNN's state is h
alone, which the length tells. No pickle: the bytes come back from a file or a server another
process writes to."""

from __future__ import annotations

import struct

import numpy as np

from model.inference import State

_SHAPE = struct.Struct("<III")


def encode_state(state: State) -> bytes:
    parts = [np.ascontiguousarray(part, dtype="<f4") for part in state if part is not None]
    return _SHAPE.pack(*parts[0].shape) + b"".join(part.tobytes() for part in parts)


def decode_state(blob: bytes) -> State:
    shape = _SHAPE.unpack_from(blob)
    count = shape[0] * shape[1] * shape[2]
    values = np.frombuffer(blob, dtype="<f4", offset=_SHAPE.size)
    if values.size not in (count, 2 * count):
        raise ValueError(
            f"a kept state of shape {shape} has {values.size} values, not {count} or {2 * count}"
        )
    # Copies, native float32: the batcher writes into merged states, never into these bytes.
    h = values[:count].reshape(shape).astype(np.float32)
    c = values[count:].reshape(shape).astype(np.float32) if values.size == 2 * count else None
    return h, c
