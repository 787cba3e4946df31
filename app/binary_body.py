"""Binary predict bodies, for clients that send large batches: `application/x-npy` (one dense
(B, T, F) array of float32 or float64) or `application/x-npz` (arrays `inputs`, and optionally
`lengths` (B,) of integers, `h` and `c` (num_layers, B, hidden_size)); the options come from the
query string. Files are read by their header, never unpickled, and no array is allocated before
its bytes are known to be there. The checks on arrays are public: the Open Inference Protocol's
tensors (app/v2_model.py) pass the same ones."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from typing import IO

import numpy as np
from numpy.lib import format as npy
from pydantic import ValidationError

from app.arrays import PredictInput
from app.errors import InvalidBody, LimitExceeded
from app.schemas import FLOAT32_MAX, PredictOptions
from model.errors import InvalidInput

_HEADER_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
_NPZ_ARRAYS = ("inputs", "lengths", "h", "c")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


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


def _state_part(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    location = ("state", name)
    if name not in arrays:
        raise InvalidInput("the archive has one of h and c; send both or neither", location)
    return to_float32(dense(arrays[name], location), location)
