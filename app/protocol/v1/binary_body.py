"""Binary predict bodies, for clients that send large batches: `application/x-npy` (one dense
(B, T, F) array of float32 or float64) or `application/x-npz` (arrays `inputs`, and optionally
`lengths` (B,) of integers, `h` and `c` (num_layers, B, hidden_size)); the options come from the
query string. Files are read by model/npy.py: by their header, checked before use, never
unpickled, an archive's members decompressed in chunks counted against the body limit. The
arrays pass the checks the Open Inference Protocol's tensors pass too (app/protocol/arrays.py).
Reading is CPU work: the route runs it off the event loop."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
from pydantic import ValidationError

from app.core.errors import InvalidBody, LimitExceeded, Location
from app.protocol.arrays import checked_lengths, dense, to_float32, zero_padding
from app.protocol.request import PredictInput
from app.protocol.v1.schemas import PredictOptions
from model import npy
from model.errors import DataTooLarge, InvalidInput, UnreadableFile

_NPZ_ARRAYS = ("inputs", "lengths", "h", "c")


def read_npy(body: bytes, query: Mapping[str, str], max_bytes: int) -> PredictInput:
    options = query_options(query)
    with file_errors():
        array = npy.read_npy(io.BytesIO(body), len(body), npy.Budget(max_bytes), "inputs")
    inputs = dense(array, ("inputs",))
    lengths = np.full(inputs.shape[0], inputs.shape[1], dtype=np.int64)
    return PredictInput(options, to_float32(inputs, ("inputs",)), lengths, None)


def read_npz(body: bytes, query: Mapping[str, str], max_bytes: int) -> PredictInput:
    """`max_bytes` bounds the unpacked arrays, as it bounds a body: a small archive must not
    unpack into gigabytes."""
    options = query_options(query)
    with file_errors():
        arrays = npy.read_npz(body, npy.Budget(max_bytes), _NPZ_ARRAYS, others=False).arrays
    if "inputs" not in arrays:
        raise InvalidInput("the archive needs an array named inputs", ("inputs",))
    inputs = dense(arrays["inputs"], ("inputs",))
    lengths = checked_lengths(arrays.get("lengths"), inputs)
    inputs = to_float32(zero_padding(inputs, lengths), ("inputs",))
    state = None
    if "h" in arrays or "c" in arrays:
        c = _state_part(arrays, "c") if "c" in arrays else None
        state = (_state_part(arrays, "h"), c)
    return PredictInput(options, inputs, lengths, state)


@contextmanager
def file_errors(location: Location = (), path: str = "") -> Iterator[None]:
    """model/npy.py's errors as the service's: a file that is not a readable array is
    InvalidBody (400), one past its budget LimitExceeded (413), both at `location`. `path`: a
    server file's name, which messages call "the upload" instead."""
    try:
        yield
    except UnreadableFile as exc:
        raise InvalidBody(_named(exc.message, path), location) from exc
    except DataTooLarge as exc:
        raise LimitExceeded(_named(exc.message, path), location) from exc


def _named(message: str, path: str) -> str:
    return message.replace(path, "the upload") if path else message


def query_options(query: Mapping[str, str]) -> PredictOptions:
    """Options from the query string, where true, 1, false and 0 are booleans."""
    try:
        return PredictOptions.model_validate(dict(query), strict=False)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidInput(str(error["msg"]), tuple(error["loc"])) from exc


def _state_part(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    location = ("state", name)
    if name not in arrays:
        raise InvalidInput("the archive has c without h: send h (and c for an lstm)", location)
    return to_float32(dense(arrays[name], location), location)
