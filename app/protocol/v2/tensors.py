"""Open Inference Protocol tensors <-> numpy: JSON `data` (flat or nested, row-major), the
binary tensor data extension (each tensor's raw little-endian bytes after the JSON header, whose
length the `Inference-Header-Content-Length` header gives), datatypes and shapes. Knows nothing
of the LSTM: app/protocol/v2/lstm.py says what the tensors mean."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson
from pydantic import ValidationError

from app.core.errors import InvalidBody
from app.protocol.v2.schemas import InferenceRequest, RequestInput
from model.errors import InvalidInput

HEADER_LENGTH = "Inference-Header-Content-Length"
# The datatypes read and written, as numpy types in the protocol's byte order.
DTYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
}
DATATYPES = {dtype: name for name, dtype in DTYPES.items()}
_DIGITS = re.compile(r"[0-9]{1,12}")
_TYPE_NAMES = {bool: "true or false", str: "a string", type(None): "null", dict: "an object"}


class Received(NamedTuple):
    request: InferenceRequest
    tensors: dict[str, np.ndarray]  # by input name; JSON floats as float64, integers as int64


class Output(NamedTuple):
    name: str
    array: np.ndarray  # float32 or float64
    binary: bool  # raw bytes after the JSON header, rather than JSON data


def read_request(body: bytes, header_length: str | None) -> Received:
    """An infer request's body: JSON alone, or, with `header_length`, a JSON header followed by
    the binary inputs in the order the header lists them."""
    header, binary = _split(body, header_length)
    try:
        request = InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"{where}: {error['msg']}" if where else error["msg"]) from exc
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        if tensor.name in tensors:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        tensors[tensor.name], offset = _decode(tensor, binary, offset, len(body))
    if offset != len(binary):
        raise InvalidBody(
            f"{len(binary) - offset} bytes follow the binary inputs' data; the header's "
            "binary_data_size values must add up to the bytes after the JSON header"
        )
    return Received(request, tensors)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    binary = memoryview(body)
    if header_length is None:
        return body, binary[:0]
    if not _DIGITS.fullmatch(header_length) or int(header_length) > len(body):
        raise InvalidBody(
            f"{HEADER_LENGTH} must be the JSON header's length in bytes, at most the body's "
            f"{len(body)}; got {header_length[:20]!r}"
        )
    length = int(header_length)
    return body[:length], binary[length:]


def _decode(
    tensor: RequestInput, binary: memoryview, offset: int, body_bytes: int
) -> tuple[np.ndarray, int]:
    """The tensor's array, in its shape, and where the next binary input starts."""
    name, shape = tensor.name, tensor.shape
    dtype = DTYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidInput(
            f"input {name!r}: datatype {tensor.datatype!r} is not supported; "
            f"use one of {', '.join(DTYPES)}"
        )
    check_shape(name, shape, body_bytes)
    count = math.prod(shape)  # Python ints: a huge shape cannot wrap around
    size = tensor.parameters.binary_data_size if tensor.parameters else None
    if size is None:
        if tensor.data is None:
            raise InvalidInput(f"input {name!r} has neither data nor binary_data_size")
        return _from_json(tensor, dtype, count).reshape(shape), offset
    if tensor.data is not None:
        raise InvalidInput(f"input {name!r} has both data and binary_data_size; send one")
    if size != count * dtype.itemsize:
        raise InvalidBody(
            f"input {name!r}: binary_data_size is {size}, but shape {shape} of "
            f"{tensor.datatype} takes {count * dtype.itemsize} bytes"
        )
    if offset + size > len(binary):
        raise InvalidBody(f"input {name!r}: the body ends before its {size} bytes of data")
    array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
    return array, offset + size


def check_shape(name: str, shape: list[int], body_bytes: int) -> None:
    """Every value takes a byte of the body at least (a JSON number, or binary data), so no
    tensor the body holds has a larger shape, even with its zero dimensions taken as one: a
    bound on every later count, and one numpy can reshape to (it cannot describe some empty
    arrays of huge dimensions)."""
    if any(size < 0 for size in shape):
        raise InvalidInput(f"input {name!r}: shape {_text(shape)} has a negative dimension")
    if math.prod(max(size, 1) for size in shape) > body_bytes:
        raise InvalidInput(
            f"input {name!r}: shape {_text(shape)} holds more values than the body's "
            f"{body_bytes} bytes could"
        )


def _text(shape: list[int]) -> str:
    """A shape for a message: a hostile one may hold numbers of hundreds of digits."""
    text = str(shape)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _from_json(tensor: RequestInput, dtype: np.dtype[Any], count: int) -> np.ndarray:
    """JSON numbers, flat: float64 (what a JSON number is) for the float types, so that the
    range checks see a number past float32's before it rounds; int64 for the integer ones."""
    name, integers = tensor.name, dtype.kind == "i"
    wanted = "integers" if integers else "numbers"
    try:
        # Objects, not numbers, so that a true among numbers is not read as 1.
        values = np.array(tensor.data, dtype=object)
    except ValueError as exc:  # nested lists of different lengths, several levels deep
        raise InvalidInput(f"input {name!r}: data must be {wanted} in evenly nested lists") from exc
    allowed = np.array([int] if integers else [int, float], dtype=object)
    valid = np.isin(np.frompyfunc(type, 1, 1)(values), allowed)
    if not valid.all():
        found = values.flat[int(np.argmin(valid))]
        what = _TYPE_NAMES.get(type(found), f"a {type(found).__name__}")
        if isinstance(found, list):
            what = "nested lists of different lengths"
        raise InvalidInput(f"input {name!r}: data must be {wanted}; found {what}")
    if values.size != count:
        raise InvalidInput(
            f"input {name!r}: data has {values.size} values; shape {tensor.shape} takes {count}"
        )
    try:
        return values.reshape(-1).astype(np.int64 if integers else np.float64)
    except OverflowError as exc:
        raise InvalidInput(f"input {name!r}: a value is beyond {tensor.datatype}'s range") from exc


def response_body(head: dict[str, Any], outputs: Sequence[Output]) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: `head` (model_name, model_version, id) and each
    output, its data in the JSON or, when binary, as raw bytes after it, in order."""
    described, chunks = [], []
    for output in outputs:
        array = np.ascontiguousarray(output.array)  # orjson writes C-contiguous arrays only
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": DATATYPES[array.dtype.newbyteorder("<")],
            "shape": list(array.shape),
        }
        if output.binary:
            chunk = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = array.reshape(-1)
        described.append(entry)
    header = orjson.dumps({**head, "outputs": described}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, {"content-type": "application/json"}
    headers = {HEADER_LENGTH: str(len(header)), "content-type": "application/octet-stream"}
    return b"".join([header, *chunks]), headers
