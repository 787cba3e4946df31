"""Validation errors as the service's own: the first error a parser or a pydantic schema found
becomes one `InvalidJson` or `InvalidInput` with its location. One error per answer: the first
found, never a list of every error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.core.errors import InvalidJson
from model.errors import InvalidInput


def first_error(errors: Sequence[Mapping[str, Any]], prefix: int = 0) -> InvalidJson | InvalidInput:
    """`errors` as pydantic (or FastAPI) lists them; `prefix`: leading location parts that are
    not the client's (FastAPI's "body", "query", "path")."""
    error = errors[0]
    location = tuple(error["loc"])
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        return InvalidJson(f"{reason} at byte {location[-1]}")
    return InvalidInput(str(error["msg"]), location[prefix:])
