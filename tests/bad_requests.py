"""Every malformed request and the answer it must get, for the model of tests/conftest.py
(input_size 3, hidden_size 8, 2 layers) under LIMITS. Shared by the in-process and the
real-server tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LIMITS: dict[str, Any] = {
    "max_body_bytes": 64 * 1024,
    "max_batch_size": 8,
    "max_sequence_steps": 50,
    "max_total_steps": 100,
}

STEP = [0.5, -1.0, 2.0]
HIDDEN = [0.0] * 8


def zeros_state(layers: int = 2, batch: int = 1, hidden: int = 8) -> list[list[list[float]]]:
    return [[[0.0] * hidden for _ in range(batch)] for _ in range(layers)]


@dataclass(frozen=True)
class BadRequest:
    id: str
    status: int
    code: str
    location: list[str | int] | None = None  # None: not checked (e.g. framework 404)
    body: Any = None  # JSON-encoded unless `raw` is set
    raw: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    method: str = "POST"
    path: str = "/v1/predict"

    def content(self) -> bytes | None:
        if self.raw is not None:
            return self.raw.encode() if isinstance(self.raw, str) else self.raw
        return None if self.body is None else json.dumps(self.body).encode()


def _state(h: Any = None, c: Any = None) -> dict[str, Any]:
    return {"inputs": [[STEP]], "state": {"h": h or zeros_state(), "c": c or zeros_state()}}


BAD_REQUESTS = [
    BadRequest("wrong-feature-count", 422, "invalid_input", ["inputs", 1, 2],
               body={"inputs": [[STEP], [STEP, STEP, [1.0, 2.0]]]}),
    BadRequest("too-many-features", 422, "invalid_input", ["inputs", 0, 0],
               body={"inputs": [[[*STEP, 1.0]]]}),
    BadRequest("empty-batch", 422, "invalid_input", ["inputs"], body={"inputs": []}),
    BadRequest("empty-sequence", 422, "invalid_input", ["inputs", 1],
               body={"inputs": [[STEP], []]}),
    BadRequest("empty-step", 422, "invalid_input", ["inputs", 0, 0], body={"inputs": [[[]]]}),
    BadRequest("missing-inputs", 422, "invalid_input", ["inputs"], body={"return_state": True}),
    BadRequest("string-number", 422, "invalid_input", ["inputs", 0, 0, 1],
               body={"inputs": [[[1.0, "2", 3.0]]]}),
    BadRequest("boolean-number", 422, "invalid_input", ["inputs", 0, 0, 2],
               body={"inputs": [[[1.0, 2.0, True]]]}),
    BadRequest("null-number", 422, "invalid_input", ["inputs", 0, 0, 0],
               body={"inputs": [[[None, 2.0, 3.0]]]}),
    BadRequest("nan", 422, "invalid_input", ["inputs", 0, 1, 1],
               raw='{"inputs": [[[1, 2, 3], [1, NaN, 3]]]}'),
    BadRequest("infinity", 422, "invalid_input", ["inputs", 0, 0, 2],
               raw='{"inputs": [[[1, 2, Infinity]]]}'),
    BadRequest("minus-infinity", 422, "invalid_input", ["inputs", 0, 0, 0],
               raw='{"inputs": [[[-Infinity, 2, 3]]]}'),
    BadRequest("overflow-1e999", 422, "invalid_input", ["inputs", 0, 0, 1],
               raw='{"inputs": [[[1, 1e999, 3]]]}'),
    BadRequest("beyond-float32", 422, "invalid_input", ["inputs", 0, 0, 0],
               body={"inputs": [[[1e39, 2.0, 3.0]]]}),
    BadRequest("inputs-not-a-list", 422, "invalid_input", ["inputs"], body={"inputs": "abc"}),
    BadRequest("body-not-an-object", 422, "invalid_input", [], body=[[STEP]]),
    BadRequest("unknown-field", 422, "invalid_input", ["temperature"],
               body={"inputs": [[STEP]], "temperature": 1.0}),
    BadRequest("unknown-state-field", 422, "invalid_input", ["state", "extra"],
               body={**_state(), "state": {"h": zeros_state(), "c": zeros_state(), "extra": 1}}),
    BadRequest("state-missing-c", 422, "invalid_input", ["state", "c"],
               body={"inputs": [[STEP]], "state": {"h": zeros_state()}}),
    BadRequest("state-wrong-layers", 422, "invalid_input", ["state", "h"],
               body=_state(h=zeros_state(layers=1))),
    BadRequest("state-wrong-batch", 422, "invalid_input", ["state", "c", 0],
               body=_state(c=zeros_state(batch=2))),
    BadRequest("state-wrong-hidden", 422, "invalid_input", ["state", "h", 1, 0],
               body=_state(h=[[HIDDEN], [[0.0] * 7]])),
    BadRequest("state-nan", 422, "invalid_input", ["state", "c", 1, 0, 3],
               raw=json.dumps(_state(c=[[HIDDEN], [[0.0, 0.0, 0.0, float("nan")] + [0.0] * 4]]))),
    BadRequest("return-state-not-bool", 422, "invalid_input", ["return_state"],
               body={"inputs": [[STEP]], "return_state": "yes"}),
    BadRequest("bad-session-id", 422, "invalid_input", ["session_id"],
               body={"inputs": [[STEP]], "session_id": "has space"}),
    BadRequest("invalid-json", 400, "invalid_json", [], raw='{"inputs": [[[1, 2, 3]]'),
    BadRequest("json-nested-too-deep", 400, "invalid_json", [], raw="[" * 20000 + "]" * 20000),
    BadRequest("empty-json-body", 422, "invalid_input", [], raw=""),
    BadRequest("text-plain", 415, "unsupported_media_type", [],
               raw='{"inputs": [[[1, 2, 3]]]}', headers={"content-type": "text/plain"}),
    BadRequest("form-encoded", 415, "unsupported_media_type", [], raw="inputs=1",
               headers={"content-type": "application/x-www-form-urlencoded"}),
    BadRequest("no-content-type", 415, "unsupported_media_type", [],
               raw='{"inputs": [[[1, 2, 3]]]}', headers={}),
    BadRequest("too-many-sequences", 413, "payload_too_large", ["inputs"],
               body={"inputs": [[STEP]] * 9}),
    BadRequest("sequence-too-long", 413, "payload_too_large", ["inputs", 1],
               body={"inputs": [[STEP], [STEP] * 51]}),
    BadRequest("too-many-steps", 413, "payload_too_large", ["inputs"],
               body={"inputs": [[STEP] * 50, [STEP] * 50, [STEP]]}),
    BadRequest("body-too-large", 413, "payload_too_large", [],
               raw='{"inputs": [[' + ", ".join(["[1, 2, 3]"] * 8000) + "]]}"),
    BadRequest("unknown-model-version", 404, "unknown_model_version", ["model_version"],
               body={"inputs": [[STEP]], "model_version": "999"}),
    BadRequest("unknown-route", 404, "not_found", method="GET", path="/v1/nothing-here"),
    BadRequest("wrong-method", 405, "method_not_allowed", method="GET", path="/v1/predict"),
    BadRequest("unknown-model", 404, "unknown_model_version", ["version"], method="GET",
               path="/v1/models/999"),
    BadRequest("unknown-session", 404, "unknown_session", ["session_id"], method="DELETE",
               path="/v1/sessions/never-started"),
    BadRequest("bad-session-path", 422, "invalid_input", ["session_id"], method="DELETE",
               path="/v1/sessions/" + "x" * 200),
]  # fmt: skip


def check_error(response: Any, case: BadRequest) -> None:
    """The status, and the one error shape with the expected code and location."""
    assert response.status_code == case.status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "location"}
    assert body["error"]["code"] == case.code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if case.location is not None:
        assert body["error"]["location"] == case.location
