"""The one place where errors become HTTP answers. Every error, ours, the core's or the
framework's, leaves as `{"error": {"code", "message", "location"}}` with a documented status;
under /v2, the Open Inference Protocol's routes, as its `{"error": "message"}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.schemas import ErrorBody, ErrorResponse
from model.errors import InvalidInput

logger = logging.getLogger(__name__)

Location = Sequence[str | int]
V2_PREFIX = "/v2"  # the Open Inference Protocol's routes (app/routes/v2.py)


class ServiceError(Exception):
    """An error the service raises on purpose; subclasses fix the status and code."""

    status_code = 500
    code = "internal_error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str, location: Location = ()) -> None:
        super().__init__(message)
        self.message = message
        self.location = tuple(location)


class Unauthorized(ServiceError):
    """No bearer token, or not a bearer token at all."""

    status_code, code = 401, "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    """A bearer token that is not the server's."""

    status_code, code = 403, "forbidden"


class UnknownModel(ServiceError):
    """A model name other than the served one (Open Inference Protocol routes)."""

    status_code, code = 404, "unknown_model"


class UnknownModelVersion(ServiceError):
    status_code, code = 404, "unknown_model_version"


class UnknownSession(ServiceError):
    status_code, code = 404, "unknown_session"


class UnknownJob(ServiceError):
    status_code, code = 404, "unknown_job"


class UnknownDataset(ServiceError):
    status_code, code = 404, "unknown_dataset"


class JobConflict(ServiceError):
    """The job is past the state the request needs (cancelling a finished job)."""

    status_code, code = 409, "job_conflict"


class QueueFull(ServiceError):
    status_code, code = 429, "queue_full"


class SessionConflict(ServiceError):
    status_code, code = 409, "session_conflict"


class ModelUnavailable(ServiceError):
    """A version is in the store but its checkpoint can no longer be loaded."""

    status_code, code = 409, "model_unavailable"


class LimitExceeded(ServiceError):
    status_code, code = 413, "payload_too_large"


class InvalidBody(ServiceError):
    """A binary body (.npy, .npz) that cannot be read at all."""

    status_code, code = 400, "invalid_body"


class UnsupportedMediaType(ServiceError):
    status_code, code = 415, "unsupported_media_type"


class NotReady(ServiceError):
    status_code, code = 503, "not_ready"


class StartupError(Exception):
    """The service cannot start as configured (e.g. its backend cannot be imported)."""


# Framework errors carry only a status; these name them in our vocabulary.
_HTTP_CODES = {
    400: "invalid_json",  # the framework's only 400: a body it could not parse
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


# What each status means in this API; routes declare theirs with `responses(...)`.
_DESCRIPTIONS = {
    400: "Unparsable body: JSON, .npy or .npz",
    401: "Management route without a bearer token",
    403: "Management route with a wrong token",
    404: "Unknown model version, session, job, data set or route",
    409: "Conflict: a session's state or version does not fit the request, a version cannot "
    "be loaded, or the job has already finished",
    413: "Over a size limit: body bytes, sequences, steps, training data",
    415: "Unsupported content type",
    422: "Well-formed but wrong content: shapes, numbers, unknown fields, bad training data",
    429: "The training queue is full",
    503: "No model loaded yet",
}


def responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: every error has the ErrorResponse shape."""
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in status_codes
    }


def error_response(
    status_code: int,
    code: str,
    message: str,
    location: Location = (),
    headers: dict[str, str] | None = None,
    *,
    path: str = "",
) -> JSONResponse:
    """The answer to an error met on `path`."""
    if path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/"):
        # The protocol's clients read a message alone, and its status for bad input is 400.
        status_code = 400 if status_code == 422 else status_code
        where = f" (at {_path(location)})" if location else ""
        return JSONResponse({"error": message + where}, status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorBody(code=code, message=message, location=list(location)))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _path(location: Location) -> str:
    """("inputs", 0, 2) -> "inputs[0][2]"."""
    parts = (f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return "".join(parts).removeprefix(".")


def _describe(exc: Exception) -> tuple[int, str, str, Location]:
    """(status, code, message, location) of any exception."""
    if isinstance(exc, ServiceError):
        return exc.status_code, exc.code, exc.message, exc.location
    if isinstance(exc, InvalidInput):
        return 422, "invalid_input", exc.message, exc.location
    if isinstance(exc, RequestValidationError):
        return _describe_validation(exc.errors()[0])  # one error per answer: the first found
    if isinstance(exc, HTTPException):
        return exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail), ()
    logger.error("unexpected error", exc_info=exc)
    return 500, "internal_error", "internal error; see the server log", ()


def _describe_validation(error: dict[str, Any]) -> tuple[int, str, str, Location]:
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        return 400, "invalid_json", f"{reason} at byte {error['loc'][-1]}", ()
    # Drop the framework's "body"/"path" prefix: locations point into what the client sent.
    return 422, "invalid_input", str(error["msg"]), tuple(error["loc"][1:])


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status_code, code, message, location = _describe(exc)
    # 405 answers must keep their Allow header, 401 its WWW-Authenticate.
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException | ServiceError) else None
    return error_response(status_code, code, message, location, headers, path=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    for kind in (ServiceError, InvalidInput, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, _handle)
