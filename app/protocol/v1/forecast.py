"""`POST /v1/forecast`: its shapes, and its body read. A history of plain numbers goes from
simdjson's parse straight into a numpy array: the standard parser would build a Python float
per number while holding the interpreter, and so the event loop, for up to a second on a long
history. Anything else (a non-number, ragged rows, a repeated key) is read by the standard
parser and the schema, which locate the error."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import simdjson
from pydantic import BaseModel, Field, ValidationError, WithJsonSchema

from app.core.errors import LimitExceeded
from app.protocol.v1.json_body import python_value
from app.protocol.v1.schemas import FAIL_FAST, FLOAT32_MAX, ModelRef, StrictModel, Version
from app.protocol.validation import first_error, validated_json

DEFAULT_LEVELS = [80.0, 95.0]
MAX_LEVELS = 8
_ROWS = {
    "type": "array",
    "minItems": 1,
    "items": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]},
}
Level = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


class ForecastRequest(StrictModel):
    # Checked by model/data.py `series_array`, which names the offending value (history[3, 0]).
    history: Annotated[
        list[Any],
        WithJsonSchema(_ROWS),
        Field(description="[T][input_size] in the user's units (or [T] for one input); "
              "at least the model's window (plus horizon - 1)"),
    ]  # fmt: skip
    horizon: int = Field(ge=1, description="steps to forecast; at most MAX_FORECAST_HORIZON")
    levels: Annotated[list[Level], FAIL_FAST] = Field(
        default=DEFAULT_LEVELS,
        max_length=MAX_LEVELS,
        description="prediction interval levels in percent, each in (0, 100)",
    )
    model_version: Version | None = Field(default=None, description="default: the active one")


Rows = list[list[float]]


class Interval(BaseModel):
    lower: Rows = Field(description="[k][output_size]: the first k <= horizon steps")
    upper: Rows


class ForecastResponse(BaseModel):
    model: ModelRef
    forecast: Rows = Field(description="[horizon][output_size], in the user's units")
    intervals: dict[str, Interval] = Field(
        description='by level ("80", "97.5"); a level\'s rows stop at the last step ahead its '
        "calibration has enough residuals for"
    )
    note: str | None = Field(description="why intervals are missing or end before the horizon")


def read_forecast(body: bytes, max_steps: int) -> ForecastRequest:
    """The request, its history an array (T, F) or (T,) when it holds plain numbers; a history
    over `max_steps` rows is LimitExceeded before any row is read."""
    plain = _plain_history(body, max_steps)
    if plain is None:
        return validated_json(body, ForecastRequest)
    fields, history = plain
    try:
        request = ForecastRequest.model_validate({**fields, "history": []})
    except ValidationError as exc:  # the other fields: small, and located as the schema does
        raise first_error(exc.errors(include_url=False)) from exc
    return request.model_copy(update={"history": history})


def _plain_history(body: bytes, max_steps: int) -> tuple[dict[str, Any], np.ndarray] | None:
    try:
        document = simdjson.Parser().parse(body)
        if not isinstance(document, simdjson.Object):
            return None
        keys = list(document.keys())
        history = document["history"] if "history" in keys else None
        if len(set(keys)) != len(keys) or not isinstance(history, simdjson.Array):
            return None
        if len(history) > max_steps:
            raise LimitExceeded(
                f"the history has {len(history)} steps; at most {max_steps} per sequence",
                ("history",),
            )
        rows: list[Any] = list(history)
        numbers = np.frombuffer(history.as_buffer(of_type="d"), dtype=np.float64)
        if not rows or not (np.abs(numbers) <= FLOAT32_MAX).all():
            return None
        if isinstance(rows[0], simdjson.Array):  # (T, F): every row F numbers
            width = len(rows[0])
            if width == 0 or any(len(row) != width for row in rows):
                return None
            shape: tuple[int, ...] = (len(rows), width)
        else:
            shape = (len(rows),)
        if numbers.size != int(np.prod(shape)):  # a list among plain numbers
            return None
        fields = {key: python_value(document[key]) for key in keys if key != "history"}
        return fields, numbers.reshape(shape)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError):
        return None
