"""A predict request as any wire format decodes it (v1 JSON, .npy/.npz bodies, v2 tensors),
before it meets a model: its options, its numbers, its state as sent, and what it does to its
session. The serving pipeline takes nothing else."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from app.core.inference_keys import Owner
from app.protocol.v1.schemas import PredictOptions

Tensor3 = list[list[list[float]]]
Numbers = np.ndarray | Tensor3  # float32 array, or lists whose shape is not rectangular


class PredictInput(NamedTuple):
    """A predict request, read from JSON or a binary body, before it meets a model."""

    options: PredictOptions
    inputs: Numbers  # array: (B, T_max, F) float32, zero-padded after each length
    lengths: np.ndarray  # (B,) int64
    # h, c as sent (c None when not sent: a GRU or an RNN has none); checked against the model
    state: tuple[Numbers, Numbers | None] | None


class SessionStep(NamedTuple):
    """What a request does to its session. `start`: None begins the session when its id is
    unknown, else continues it (/v1); True begins it afresh, whatever its id held; False
    continues it and refuses an unknown id (Triton's sequence extension). `end`: forget the
    session once this request is answered. `owner`: set by the API from the request's key."""

    id: str
    start: bool | None = None
    end: bool = False
    owner: Owner = None  # the inference key the request came with: sessions are per key
