"""A JSON predict body, read fast: orjson, then numpy arrays whose type, shape and range are checked
on the array, not number by number. Anything unusual (a parse error, a NaN literal, a ragged
step, a number out of range, a boolean or a string among the numbers) takes the validating path:
the standard JSON parser and the pydantic schema, which find the exact error and its location.
So both paths accept the same requests, with the same numbers, and refuse them alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from app.protocol.request import Numbers, PredictInput
from app.protocol.v1.schemas import FLOAT32_MAX, PredictOptions, PredictRequest
from app.protocol.validation import validated_json
from model.inference import pad_sequences

_FIELDS = frozenset(PredictRequest.model_fields)
_STATE_FIELDS = ({"h", "c"}, {"h"})  # an LSTM's state; a GRU's or an RNN's
# Every byte a JSON array of numbers can hold. What is left of a body without them is keys,
# strings (with their quotes) and the literals true, false, null, each short of its "e":
# "tru", "fals", "null".
_NUMBER_BYTES = b"0123456789+-.eE[],: \t\r\n"


class _NotPlain(Exception):
    """The body needs the validating path."""


def read_json(body: bytes) -> PredictInput:
    try:
        return _fast(body)
    except _NotPlain:
        return _validated(body)


def _fast(body: bytes) -> PredictInput:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _NotPlain from exc
    if not isinstance(data, dict) or "inputs" not in data or not data.keys() <= _FIELDS:
        raise _NotPlain
    given = {key: value for key, value in data.items() if key not in ("inputs", "state")}
    try:
        options = PredictOptions.model_validate(given)
    except ValidationError as exc:
        raise _NotPlain from exc
    _only_numbers_in_arrays(body, data, given)
    inputs, lengths = _sequences(data["inputs"])
    return PredictInput(options, inputs, lengths, _state(data.get("state")))


def _only_numbers_in_arrays(body: bytes, data: dict[str, Any], options: dict[str, Any]) -> None:
    """numpy reads true as 1.0 and "2" as 2.0 where the schema refuses them, so rule them out
    on the bytes, once the number bytes are gone: each literal leaves its own "tru" or "fals"
    (neither can overlap another) and each string at least its two quotes, so finding no more
    of them than the keys and options account for leaves none among the numbers. (A null
    becomes NaN, which the range check refuses.)"""
    rest = body.translate(None, _NUMBER_BYTES)
    values = list(options.values())
    state = data.get("state")
    keys = len(data) + (len(state) if isinstance(state, dict) else 0)
    quotes = 2 * (keys + sum(isinstance(value, str) for value in values))
    if (
        rest.count(b"tru") != values.count(True)
        or rest.count(b"fals") != values.count(False)
        or rest.count(b'"') != quotes
    ):
        raise _NotPlain


def _sequences(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """(B, T_max, F) zero-padded and lengths (B,)."""
    if not isinstance(value, list) or not value:
        raise _NotPlain
    try:
        dense = _numbers(value, ndim=3)
    except _NotPlain:  # ragged: one sequence at a time
        sequences = [_numbers(sequence, ndim=2) for sequence in value]
        if len({sequence.shape[1] for sequence in sequences}) != 1:
            raise _NotPlain from None
        return pad_sequences(sequences)
    batch, steps = dense.shape[:2]
    return dense, np.full(batch, steps, dtype=np.int64)


def _state(value: Any) -> tuple[Numbers, Numbers | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.keys() not in _STATE_FIELDS:
        raise _NotPlain
    c = value.get("c")
    return _numbers(value["h"], ndim=3), None if c is None else _numbers(c, ndim=3)


def _numbers(value: Any, ndim: int) -> np.ndarray:
    """A non-empty rectangular float32 array of JSON numbers within float32's range."""
    try:
        # float64, as the schema reads numbers: a number just past float32's largest must be
        # refused below, not rounded down to it.
        array = np.array(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:  # ragged, or objects among the numbers
        raise _NotPlain from exc
    if array.ndim != ndim or array.size == 0 or not (np.abs(array) <= FLOAT32_MAX).all():
        raise _NotPlain  # NaN compares false: a null among the numbers ends here
    return array.astype(np.float32)


def _validated(body: bytes) -> PredictInput:
    """The request through the standard parser and the schema, with the errors, messages and
    locations FastAPI gives when it parses a body itself (the other routes)."""
    request = validated_json(body, PredictRequest)
    options = PredictOptions(**request.model_dump(include=set(PredictOptions.model_fields)))
    lengths = np.array([len(sequence) for sequence in request.inputs], dtype=np.int64)
    state = None if request.state is None else (request.state.h, request.state.c)
    return PredictInput(options, request.inputs, lengths, state)
