"""Binary predict bodies, for clients that send large batches: `application/x-npy` (one dense
(B, T, F) array of float32 or float64) or `application/x-npz` (arrays `inputs`, and optionally
`lengths` (B,) of integers, `h` and `c` (num_layers, B, hidden_size)); the options come from the
query string. Files are read by their header, never unpickled, and no array is allocated before
its bytes are known to be there. The arrays pass the checks the Open Inference Protocol's tensors
pass too (app/protocol/arrays.py)."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from typing import IO

import numpy as np
from numpy.lib import format as npy
from pydantic import ValidationError

from app.core.errors import InvalidBody, LimitExceeded
from app.protocol.arrays import checked_lengths, dense, to_float32, zero_padding
from app.protocol.request import PredictInput
from app.protocol.v1.schemas import PredictOptions
from model.errors import InvalidInput

_HEADER_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
_NPZ_ARRAYS = ("inputs", "lengths", "h", "c")


def read_npy(body: bytes, query: Mapping[str, str]) -> PredictInput:
    options = query_options(query)
    inputs = dense(_load(io.BytesIO(body), len(body), "inputs"), ("inputs",))
    lengths = np.full(inputs.shape[0], inputs.shape[1], dtype=np.int64)
    return PredictInput(options, to_float32(inputs, ("inputs",)), lengths, None)


def read_npz(body: bytes, query: Mapping[str, str], max_bytes: int) -> PredictInput:
    """`max_bytes` bounds the unpacked arrays, as it bounds a body: a small archive must not
    unpack into gigabytes."""
    options = query_options(query)
    arrays = _unpack(body, max_bytes)
    if "inputs" not in arrays:
        raise InvalidInput("the archive needs an array named inputs", ("inputs",))
    inputs = dense(arrays["inputs"], ("inputs",))
    lengths = checked_lengths(arrays.get("lengths"), inputs)
    inputs = to_float32(zero_padding(inputs, lengths), ("inputs",))
    state = None
    if "h" in arrays or "c" in arrays:
        state = (_state_part(arrays, "h"), _state_part(arrays, "c"))
    return PredictInput(options, inputs, lengths, state)


def query_options(query: Mapping[str, str]) -> PredictOptions:
    """Options from the query string, where true, 1, false and 0 are booleans."""
    try:
        return PredictOptions.model_validate(dict(query), strict=False)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidInput(str(error["msg"]), tuple(error["loc"])) from exc


def _unpack(body: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidBody(f"not an .npz archive: {exc}") from exc
    members = archive.infolist()
    if sum(member.file_size for member in members) > max_bytes:
        raise LimitExceeded(f"the archive's arrays are over the limit of {max_bytes} bytes")
    arrays = {}
    for member in members:
        name = member.filename.removesuffix(".npy")
        if name not in _NPZ_ARRAYS:
            raise InvalidInput(
                f"unknown array {name!r}; expected {', '.join(_NPZ_ARRAYS)}", (name,)
            )
        try:
            with archive.open(member) as stream:
                arrays[name] = _load(stream, member.file_size, name)
        # Encrypted members, unknown compression methods, bad checksums.
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise InvalidBody(f"{name}: {exc}") from exc
    return arrays


def _load(stream: IO[bytes], size: int, name: str) -> np.ndarray:
    """One .npy file of at most `size` bytes."""
    try:
        version = npy.read_magic(stream)
        if version not in _HEADER_READERS:
            raise ValueError(f"format version {version} is not supported")
        shape, fortran_order, dtype = _HEADER_READERS[version](stream)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise InvalidBody(f"{name}: not an .npy array: {exc}") from exc
    if dtype.hasobject:
        raise InvalidInput(f"{name} must hold numbers, not Python objects", (name,))
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a huge shape cannot wrap around
    data = stream.read(nbytes) if nbytes <= size else b""
    if len(data) != nbytes:
        raise InvalidBody(f"{name}: the .npy data is shorter than its header says {list(shape)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _state_part(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    location = ("state", name)
    if name not in arrays:
        raise InvalidInput("the archive has one of h and c; send both or neither", location)
    return to_float32(dense(arrays[name], location), location)
