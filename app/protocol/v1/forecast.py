"""The shapes of `POST /v1/forecast`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from app.protocol.v1.schemas import FAIL_FAST, ModelRef, StrictModel, Version

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
