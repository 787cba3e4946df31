"""The one place where errors become HTTP answers. Every error, the service's
(`app.core.errors`), the ML core's (`model.errors`) or the framework's, leaves as
`{"error": {"code", "message", "location"}}` with the status this module's table gives it; under
/v2, the Open Inference Protocol's routes, as its `{"error": "message"}`."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.core import errors
from app.core.errors import Location, ServiceError, location_text
from app.protocol.v1.schemas import ErrorBody, ErrorResponse
from app.protocol.validation import first_error
from model.errors import CheckpointError, InvalidInput

logger = logging.getLogger(__name__)

V2_PREFIX = "/v2"  # the Open Inference Protocol's routes (app/api/routes/v2.py)


class Status(NamedTuple):
    status_code: int
    code: str
    headers: dict[str, str] | None = None


# Every error raised on purpose, by class (a subclass takes its closest listed base's entry).
STATUSES: dict[type[Exception], Status] = {
    errors.InvalidJson: Status(400, "invalid_json"),
    errors.InvalidBody: Status(400, "invalid_body"),
    errors.Unauthorized: Status(401, "unauthorized", {"WWW-Authenticate": "Bearer"}),
    errors.Forbidden: Status(403, "forbidden"),
    errors.UnknownModel: Status(404, "unknown_model"),
    errors.UnknownModelVersion: Status(404, "unknown_model_version"),
    errors.UnknownSession: Status(404, "unknown_session"),
    errors.UnknownJob: Status(404, "unknown_job"),
    errors.UnknownDataset: Status(404, "unknown_dataset"),
    errors.JobConflict: Status(409, "job_conflict"),
    errors.SessionConflict: Status(409, "session_conflict"),
    # A version in the store whose checkpoint can no longer be loaded.
    errors.ModelUnavailable: Status(409, "model_unavailable"),
    CheckpointError: Status(409, "model_unavailable"),
    errors.LimitExceeded: Status(413, "payload_too_large"),
    errors.UnsupportedMediaType: Status(415, "unsupported_media_type"),
    InvalidInput: Status(422, "invalid_input"),
    errors.QueueFull: Status(429, "queue_full"),
    errors.SessionsFull: Status(429, "sessions_full"),
    errors.DatasetQuotaExceeded: Status(409, "dataset_quota_exceeded"),
    errors.NotReady: Status(503, "not_ready"),
    errors.Overloaded: Status(503, "overloaded"),
    errors.BackendUnavailable: Status(503, "backend_unavailable"),
    errors.InsufficientStorage: Status(507, "insufficient_storage"),
}
_INTERNAL = Status(500, "internal_error")

# Framework errors carry only a status; these name them in our vocabulary.
_HTTP_CODES = {
    400: "invalid_json",  # the framework's only 400: a body it could not parse
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_of(exc: Exception) -> Status:
    """The table's entry for `exc`, by its class or the nearest base class listed."""
    for kind in type(exc).__mro__:
        if kind in STATUSES:
            return STATUSES[kind]
    return _INTERNAL


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
        where = f" (at {location_text(location)})" if location else ""
        return JSONResponse({"error": message + where}, status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorBody(code=code, message=message, location=list(location)))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _describe(exc: Exception) -> tuple[Status, str, Location]:
    """(status, message, location) of any exception; an unexpected one is logged."""
    if isinstance(exc, RequestValidationError):
        # One error per answer: the first found. Drop the framework's "body"/"path" prefix, so
        # locations point into what the client sent.
        return _describe(first_error(exc.errors(), prefix=1))
    if isinstance(exc, errors.Overloaded):
        status = status_of(exc)
        headers = {"Retry-After": str(exc.retry_after)}
        return status._replace(headers=headers), exc.message, exc.location
    if isinstance(exc, ServiceError | InvalidInput):
        return status_of(exc), exc.message, exc.location
    if isinstance(exc, CheckpointError):
        return status_of(exc), f"the model cannot be loaded: {exc.problem}", ()
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        # 405 answers must keep their Allow header.
        return Status(exc.status_code, code, dict(exc.headers or {})), str(exc.detail), ()
    logger.error("unexpected error", exc_info=exc)
    return _INTERNAL, "internal error; see the server log", ()


def error_answer(exc: Exception, path: str) -> JSONResponse:
    """The answer to any exception met on `path` (the handlers', and the predict lane's)."""
    status, message, location = _describe(exc)
    return error_response(
        status.status_code, status.code, message, location, status.headers, path=path
    )


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return error_answer(exc, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    for kind in (
        ServiceError,
        InvalidInput,
        CheckpointError,
        RequestValidationError,
        HTTPException,
        Exception,
    ):
        app.add_exception_handler(kind, _handle)


# What each status means in this API; routes declare theirs with `responses(...)`.
_DESCRIPTIONS = {
    400: "Unparsable body: JSON, .npy or .npz",
    401: "Management route without a bearer token",
    403: "Management route with a wrong token",
    404: "Unknown model version, session, job, data set or route",
    409: "Conflict: a session's state or version does not fit the request, a version cannot "
    "be loaded, the job has already finished, or the data sets' quota is full",
    413: "Over a size limit: body bytes, sequences, steps, training data",
    415: "Unsupported content type",
    422: "Well-formed but wrong content: shapes, numbers, unknown fields, bad training data",
    429: "The training queue is full, or a session's state is over the sessions' byte budget",
    503: "No model loaded yet, or overloaded (see Retry-After)",
    507: "The disk is full: nothing was stored",
}


def responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: every error has the ErrorResponse shape."""
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in status_codes
    }
