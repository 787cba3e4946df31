"""The one place where errors become gRPC status codes: the service's (`app.core.errors`) and the
ML core's (`model.errors`), with the message /v2 gives them (app/api/errors.py is HTTP's table)."""

from __future__ import annotations

import logging
from typing import NamedTuple

import grpc

from app.core import errors
from app.core.errors import location_text
from model.errors import CheckpointError, InvalidInput

logger = logging.getLogger(__name__)

Code = grpc.StatusCode  # grpcio has no type hints: Any to mypy

# Every error raised on purpose, by class (a subclass takes its closest listed base's entry).
CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidInput: Code.INVALID_ARGUMENT,
    errors.InvalidJson: Code.INVALID_ARGUMENT,
    errors.InvalidBody: Code.INVALID_ARGUMENT,
    errors.UnsupportedMediaType: Code.INVALID_ARGUMENT,
    errors.Unauthorized: Code.UNAUTHENTICATED,
    errors.Forbidden: Code.PERMISSION_DENIED,
    errors.UnknownModel: Code.NOT_FOUND,
    errors.UnknownModelVersion: Code.NOT_FOUND,
    errors.UnknownSession: Code.NOT_FOUND,
    # A session's state or version that does not fit, a version that cannot be loaded.
    errors.SessionConflict: Code.FAILED_PRECONDITION,
    errors.ModelUnavailable: Code.FAILED_PRECONDITION,
    CheckpointError: Code.FAILED_PRECONDITION,
    errors.LimitExceeded: Code.RESOURCE_EXHAUSTED,
    errors.SessionsFull: Code.RESOURCE_EXHAUSTED,
    errors.QueueFull: Code.RESOURCE_EXHAUSTED,
    errors.NotReady: Code.UNAVAILABLE,
    errors.Overloaded: Code.UNAVAILABLE,
}


class Status(NamedTuple):
    code: grpc.StatusCode
    message: str


def status_of(exc: Exception) -> Status:
    """The code and message of any exception; an unexpected one is logged, and its details stay
    in the log."""
    for kind in type(exc).__mro__:
        if kind in CODES:
            break
    else:
        logger.error("unexpected error", exc_info=exc)
        return Status(Code.INTERNAL, "internal error; see the server log")
    if isinstance(exc, CheckpointError):
        return Status(CODES[kind], f"the model cannot be loaded: {exc.problem}")
    if isinstance(exc, errors.ServiceError | InvalidInput):
        where = f" (at {location_text(exc.location)})" if exc.location else ""
        return Status(CODES[kind], exc.message + where)
    return Status(CODES[kind], str(exc))
