"""A JSON predict body, read fast: simdjson parses it, and the numbers of each array go from
the parsed document straight into a numpy buffer, with no Python float made per number (that
and the nested lists were most of a bulk request's time); their shape and range are checked on
the array. Anything unusual (a parse error, a NaN literal, a ragged step, a number out of range,
a boolean, null or string among the numbers, a repeated key) takes the validating path: the
standard JSON parser and the pydantic schema, which find the exact error and its location. So
both paths accept the same requests, with the same numbers, and refuse them alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import simdjson
from pydantic import ValidationError

from app.protocol.request import Numbers, PredictInput
from app.protocol.v1.schemas import FLOAT32_MAX, PredictOptions, PredictRequest
from app.protocol.validation import validated_json

_FIELDS = frozenset(PredictRequest.model_fields)
_STATE_FIELDS = ({"h", "c"}, {"h"})  # an LSTM's state; a GRU's or an RNN's
# What simdjson raises on a body or a value the fast path does not take.
_NOT_PLAIN = (ValueError, TypeError, KeyError, IndexError, RuntimeError)


class _NotPlain(Exception):
    """The body needs the validating path."""


def read_json(body: bytes) -> PredictInput:
    try:
        return _fast(body)
    except _NotPlain:
        return _validated(body)


def _fast(body: bytes) -> PredictInput:
    # A parser per body: parsed values hold on to their parser, and bodies are read in several
    # threads at once (large ones off the event loop).
    try:
        document = simdjson.Parser().parse(body)
        return _plain(document)
    except _NOT_PLAIN as exc:
        raise _NotPlain from exc


def _plain(document: Any) -> PredictInput:
    if not isinstance(document, simdjson.Object):
        raise _NotPlain
    keys = list(document.keys())
    # A repeated key: the standard parser keeps the last value, simdjson the first.
    if "inputs" not in keys or not set(keys) <= _FIELDS or len(set(keys)) != len(keys):
        raise _NotPlain
    given = {key: python_value(document[key]) for key in keys if key not in ("inputs", "state")}
    try:
        options = PredictOptions.model_validate(given)
    except ValidationError as exc:
        raise _NotPlain from exc
    inputs, lengths = _sequences(document["inputs"])
    state = document["state"] if "state" in keys else None
    return PredictInput(options, inputs, lengths, _state(state))


def python_value(value: Any) -> Any:
    """An option's value as Python objects (a container would be a proxy of the document)."""
    if isinstance(value, simdjson.Array):
        return value.as_list()
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    return value


def _sequences(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """(B, T_max, F) zero-padded and lengths (B,): every step of every sequence F numbers."""
    if not isinstance(value, simdjson.Array) or len(value) == 0:
        raise _NotPlain
    sequences: list[Any] = list(value)  # a number where a list belongs: TypeError
    lengths = np.array([_steps(sequence) for sequence in sequences], dtype=np.int64)
    widths = {len(step) for sequence in sequences for step in sequence}
    if len(widths) != 1 or 0 in widths or lengths.min() == 0:
        raise _NotPlain
    (features,) = widths
    flat = _checked(value.as_buffer(of_type="d"))  # every number, in order
    if lengths.min() == lengths.max():  # rectangular: the usual batch
        return flat.reshape(len(lengths), int(lengths[0]), features), lengths
    padded = np.zeros((len(lengths), int(lengths.max()), features), dtype=np.float32)
    ends = np.cumsum(lengths) * features
    for row, (length, end) in enumerate(zip(lengths.tolist(), ends.tolist(), strict=True)):
        padded[row, :length] = flat[end - length * features : end].reshape(length, features)
    return padded, lengths


def _steps(sequence: Any) -> int:
    if not isinstance(sequence, simdjson.Array):
        raise _NotPlain
    return len(sequence)


def _state(value: Any) -> tuple[Numbers, Numbers | None] | None:
    if value is None:
        return None
    if not isinstance(value, simdjson.Object) or set(value.keys()) not in _STATE_FIELDS:
        raise _NotPlain
    c = value.get("c")
    return _tensor3(value["h"]), None if c is None else _tensor3(c)


def _tensor3(value: Any) -> np.ndarray:
    """A state's (num_layers, B, hidden_size): rectangular, numbers within float32's range."""
    if not isinstance(value, simdjson.Array) or len(value) == 0:
        raise _NotPlain
    layers: list[Any] = list(value)
    rows = [row for layer in layers for row in layer]
    shape = (len(layers), len(rows) // len(layers), len(rows[0]) if rows else 0)
    if (any(len(layer) != shape[1] for layer in layers) or not rows
            or any(len(row) != shape[2] for row in rows) or shape[2] == 0):  # fmt: skip
        raise _NotPlain
    return _checked(value.as_buffer(of_type="d")).reshape(shape)


def _checked(buffer: Any) -> np.ndarray:
    """float64 as JSON's numbers are read (a number just past float32's largest must be refused,
    not rounded to it), then float32."""
    numbers = np.frombuffer(buffer, dtype=np.float64)
    if not (np.abs(numbers) <= FLOAT32_MAX).all():
        raise _NotPlain
    return numbers.astype(np.float32)


def _validated(body: bytes) -> PredictInput:
    """The request through the standard parser and the schema, with the errors, messages and
    locations FastAPI gives when it parses a body itself (the other routes)."""
    request = validated_json(body, PredictRequest)
    options = PredictOptions(**request.model_dump(include=set(PredictOptions.model_fields)))
    lengths = np.array([len(sequence) for sequence in request.inputs], dtype=np.int64)
    state = None if request.state is None else (request.state.h, request.state.c)
    return PredictInput(options, request.inputs, lengths, state)
