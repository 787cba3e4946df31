"""JSON bodies validated against a schema, with errors as the service's own: the first error a
parser or a pydantic schema found becomes one `InvalidJson` or `InvalidInput` with its
location, with FastAPI's messages. One error per answer: the first found, never a list of every
error (the schemas' lists fail fast)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

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


Model = TypeVar("Model", bound=BaseModel)


def validated_json(body: bytes, schema: type[Model]) -> Model:
    """`body` parsed by the standard parser and validated by `schema`."""
    if not body:
        raise InvalidInput("Field required")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"{exc.msg} at byte {exc.pos}") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, nested too deep
        raise InvalidJson("There was an error parsing the body") from exc
    try:
        return schema.model_validate(_one_unknown_key(data, schema))
    except ValidationError as exc:
        raise first_error(exc.errors(include_url=False)) from exc


def _one_unknown_key(data: Any, schema: type[BaseModel]) -> Any:
    """`data` with each object whose model forbids unknown keys cut to its known keys and the
    first unknown one, nested models too. pydantic reports a model's field errors, then one error
    per unknown key in order, and only the first error is answered: the answer is the same, but
    100,000 unknown keys no longer cost half a second of errors made while holding the
    interpreter (and with it the event loop)."""
    if not isinstance(data, dict):
        return data
    fields = schema.model_fields
    forbids = schema.model_config.get("extra") == "forbid"
    kept: dict[str, Any] = {}
    unknown_kept = False
    for key, value in data.items():
        if key in fields:
            nested = _model_in(fields[key].annotation)
            kept[key] = value if nested is None else _one_unknown_key(value, nested)
        elif not (forbids and unknown_kept):
            kept[key] = value  # the first unknown key: its error is the one answered
            unknown_kept = forbids
    return kept


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly or as an optional (`State | None`), else None."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None
