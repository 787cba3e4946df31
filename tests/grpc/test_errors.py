"""Errors as gRPC status codes, with /v2's messages (app/grpc/errors.py)."""

from __future__ import annotations

import grpc
import pytest

from app.core import errors
from app.grpc.errors import CODES, status_of
from model.errors import CheckpointError, InvalidInput

Code = grpc.StatusCode


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidInput("bad"), Code.INVALID_ARGUMENT),
        (errors.InvalidBody("bad"), Code.INVALID_ARGUMENT),
        (errors.Unauthorized("no key"), Code.UNAUTHENTICATED),
        (errors.Forbidden("wrong key"), Code.PERMISSION_DENIED),
        (errors.UnknownModel("x"), Code.NOT_FOUND),
        (errors.UnknownModelVersion("x"), Code.NOT_FOUND),
        (errors.SessionConflict("x"), Code.FAILED_PRECONDITION),
        (errors.LimitExceeded("x"), Code.RESOURCE_EXHAUSTED),
        (errors.SessionsFull("x"), Code.RESOURCE_EXHAUSTED),
        (errors.NotReady("x"), Code.UNAVAILABLE),
        (errors.BackendUnavailable("x"), Code.UNAVAILABLE),  # by its base, Overloaded
    ],
)
def test_each_error_has_its_code(exc: Exception, code: grpc.StatusCode) -> None:
    assert status_of(exc).code == code


def test_the_message_is_v2s_with_the_location() -> None:
    status = status_of(InvalidInput("each step needs 3 features, got 2", ("inputs", 0, 0)))
    assert status.message == "each step needs 3 features, got 2 (at inputs[0][0])"


def test_a_checkpoint_that_cannot_load_says_why() -> None:
    status = status_of(CheckpointError("model.safetensors", "truncated"))
    assert status.code == Code.FAILED_PRECONDITION
    assert "the model cannot be loaded" in status.message


def test_an_unexpected_error_is_internal_and_keeps_its_details_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = status_of(ZeroDivisionError("secret detail"))
    assert status == (Code.INTERNAL, "internal error; see the server log")
    assert "secret detail" in caplog.text


def test_every_client_facing_error_of_the_service_is_listed() -> None:
    # Errors of the management API (jobs, data sets, storage) never reach gRPC.
    management = {
        errors.UnknownJob, errors.UnknownDataset, errors.JobConflict,
        errors.DatasetQuotaExceeded, errors.InsufficientStorage,
    }  # fmt: skip
    service_errors = set(errors.ServiceError.__subclasses__()) - management
    missing = [kind.__name__ for kind in service_errors if kind not in CODES]
    assert not missing
