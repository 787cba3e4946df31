"""schemathesis against the running server: generated requests, valid and invalid by the
OpenAPI document, never get a 500, and every response conforms to the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from tests.support.servers import Server

pytestmark = pytest.mark.integration

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Negative data exists only where the document constrains an input.
OPERATIONS = [
    ("GET", "/healthz", [POSITIVE]),
    ("GET", "/readyz", [POSITIVE]),
    ("GET", "/metrics", [POSITIVE]),
    ("POST", "/v1/predict", [POSITIVE, NEGATIVE]),
    ("POST", "/v1/forecast", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/models", [POSITIVE]),
    ("GET", "/v1/models/{version}", [POSITIVE]),
    ("DELETE", "/v1/sessions/{session_id}", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/train", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/train/{job_id}", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/train/{job_id}/events", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/train/{job_id}/loss.svg", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/train/{job_id}/loss.png", [POSITIVE, NEGATIVE]),
    ("GET", "/v1/datasets", [POSITIVE]),
    ("GET", "/v1/datasets/{dataset_id}", [POSITIVE, NEGATIVE]),
    # Management operations, without the token: every answer must be a documented 401.
    ("POST", "/v1/train", [POSITIVE, NEGATIVE]),
    ("POST", "/v1/train/{job_id}/cancel", [POSITIVE, NEGATIVE]),
    ("POST", "/v1/train/{job_id}/resume", [POSITIVE, NEGATIVE]),
    ("POST", "/v1/models/{version}/activate", [POSITIVE]),
    ("GET", "/v1/models/{version}/export", [POSITIVE, NEGATIVE]),
    ("POST", "/v1/datasets", [POSITIVE]),
    ("DELETE", "/v1/datasets/{dataset_id}", [POSITIVE, NEGATIVE]),
    # The Open Inference Protocol.
    ("GET", "/v2", [POSITIVE]),
    ("GET", "/v2/health/live", [POSITIVE]),
    ("GET", "/v2/health/ready", [POSITIVE]),
    ("GET", "/v2/models/{name}", [POSITIVE]),
    ("GET", "/v2/models/{name}/versions/{version}", [POSITIVE]),
    ("GET", "/v2/models/{name}/ready", [POSITIVE]),
    ("GET", "/v2/models/{name}/versions/{version}/ready", [POSITIVE]),
    ("POST", "/v2/models/{name}/infer", [POSITIVE, NEGATIVE]),
    ("POST", "/v2/models/{name}/versions/{version}/infer", [POSITIVE, NEGATIVE]),
]
CASES = [(method, path, mode) for method, path, modes in OPERATIONS for mode in modes]
# A schema-valid predict request still gets 422 when its steps do not have the model's
# input_size, or 413 over a limit: sizes the document cannot know, since they depend on the
# model version. Every other check still applies to it. So with infer, whose path also names
# the model, and with forecast, which needs a model trained on a series and a history as long
# as its window.
# Their inference-key security is optional: this server has no keys, so it rightly accepts a
# request without one (tests/api/test_inference_keys.py covers the server that has keys).
EXCLUDED = {
    path: [positive_data_acceptance, ignored_auth]
    for path in (
        "/v1/predict",
        "/v1/forecast",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    )
}
EXCLUDED["/v1/sessions/{session_id}"] = [ignored_auth]

# A generated model name is never the served one: on this path the served one is put in, so
# that the bodies reach the parsers (the versioned path keeps the generated names).
SERVED = {"/v2/models/{name}/infer": {"name": "lstm"}}


@pytest.fixture(scope="module")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_the_document_lists_exactly_these_operations(api_schema: schemathesis.BaseSchema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == {(method, path) for method, path, _ in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=lambda p: str(p))
def test_operation_conforms(
    api_schema: schemathesis.BaseSchema,
    server: Server,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: schemathesis.Case) -> None:
        # Leaving out an optional inference key is no invalid request on this server.
        assume(not (ignored_auth in EXCLUDED.get(path, []) and _only_headers_invalid(case)))
        case.path_parameters = {**(case.path_parameters or {}), **SERVED.get(path, {})}
        case.call_and_validate(base_url=server.url, excluded_checks=EXCLUDED.get(path, []))

    check()


def _only_headers_invalid(case: schemathesis.Case) -> bool:
    """A negative case whose one invalid part is its headers: the Authorization header that the
    inference-key security names (the document marks it required; this server has no keys)."""
    negative = {where for where, info in case.meta.components.items() if info.mode.is_negative}
    return negative == {ParameterLocation.HEADER}
