"""The error table: every error the service or the ML core raises on purpose has a status and a
code, so none of them can leave as a 500; a checkpoint that cannot be loaded is a 409."""

from __future__ import annotations

import inspect

from app.api.errors import STATUSES, status_of
from app.core import errors
from model import errors as model_errors
from model.errors import CheckpointError, InvalidInput


def test_every_service_error_has_a_status() -> None:
    raised = [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.ServiceError) and kind is not errors.ServiceError
    ]
    assert errors.NotReady in raised
    for kind in raised:
        assert kind in STATUSES, kind  # listed itself, not through a base class
        status = status_of(kind("message"))
        assert 400 <= status.status_code < 500 or status.status_code in (503, 507), kind
        assert status.code != "internal_error", kind


def test_the_core_errors_that_reach_clients_have_a_status() -> None:
    assert status_of(InvalidInput("x")) == (422, "invalid_input", None)
    assert status_of(CheckpointError("m.safetensors", "truncated")) == (
        409,
        "model_unavailable",
        None,
    )
    # Training errors never reach a client: the worker records them in the job.
    assert status_of(model_errors.TrainingFailed("nan")).status_code == 500


def test_codes_are_unique_but_for_one_meaning_told_two_ways() -> None:
    codes = [status.code for status in STATUSES.values()]
    assert sorted(code for code in set(codes) if codes.count(code) > 1) == ["model_unavailable"]
