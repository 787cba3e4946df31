"""The service's own errors: what went wrong and where, in the service's words. They carry no
HTTP status: `app/api/errors.py` maps each one (and the ML core's `model.errors`) to its status
and code in one table, so another front end (gRPC, the command line) can map them its own way."""

from __future__ import annotations

from collections.abc import Sequence

Location = Sequence[str | int]


def location_text(location: Location) -> str:
    """A location as the Open Inference Protocol's messages write it: ("inputs", 0, 2) ->
    "inputs[0][2]"."""
    parts = (f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return "".join(parts).removeprefix(".")


class ServiceError(Exception):
    """An error the service raises on purpose. `location` points into what the client sent,
    e.g. ("inputs", 3, 7)."""

    def __init__(self, message: str, location: Location = ()) -> None:
        super().__init__(message)
        self.message = message
        self.location = tuple(location)


class Unauthorized(ServiceError):
    """No bearer token, or not a bearer token at all."""


class Forbidden(ServiceError):
    """A bearer token that is not the server's."""


class UnknownModel(ServiceError):
    """A model name other than the served one (Open Inference Protocol routes)."""


class UnknownModelVersion(ServiceError):
    """No such version in the model store."""


class UnknownSession(ServiceError):
    """No such streaming session (never started, ended or expired)."""


class UnknownJob(ServiceError):
    """No such training job."""


class UnknownDataset(ServiceError):
    """No such uploaded data set."""


class JobConflict(ServiceError):
    """The job is past the state the request needs (cancelling a finished job)."""


class QueueFull(ServiceError):
    """The training queue holds as many jobs as it may."""


class SessionConflict(ServiceError):
    """A session's state or version does not fit the request."""


class ModelUnavailable(ServiceError):
    """A version is in the store but its checkpoint can no longer be loaded."""


class LimitExceeded(ServiceError):
    """Over a size limit: body bytes, sequences, steps, training data."""


class InvalidJson(ServiceError):
    """A body that is not JSON at all."""


class InvalidBody(ServiceError):
    """A binary body (.npy, .npz) that cannot be read at all."""


class UnsupportedMediaType(ServiceError):
    """A body of a content type the route does not read."""


class NotReady(ServiceError):
    """No model is loaded: the service is starting or stopping."""


class Overloaded(ServiceError):
    """A bounded queue or pool is full: the client may retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailable(Overloaded):
    """A shared store (the database, the session store) cannot be reached or answer now;
    nothing was changed, and the client may retry after `retry_after` seconds."""


class SessionsFull(ServiceError):
    """A session's state alone is over the byte budget of all sessions."""


class DatasetQuotaExceeded(ServiceError):
    """Storing a data set would pass the count or total-bytes quota of data sets."""


class InsufficientStorage(ServiceError):
    """The disk is full: nothing was stored."""


class StartupError(Exception):
    """The service cannot start as configured (e.g. its backend cannot be imported)."""
