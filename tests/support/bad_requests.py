"""Every malformed request and the answer it must get, for the model of tests/conftest.py
(input_size 3, hidden_size 8, 2 layers) under LIMITS, on a server whose management token is
TOKEN. Shared by the in-process and the real-server tests. No request here creates a job."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LIMITS: dict[str, Any] = {
    "max_body_bytes": 64 * 1024,
    "max_batch_size": 8,
    "max_sequence_steps": 50,
    "max_total_steps": 100,
    "max_epochs": 200,
    "max_training_processes": 2,
    "max_training_samples": 2000,
    "max_training_values": 20_000,
    "max_dataset_bytes": 32 * 1024,
}
TOKEN = "test-management-token-0123456789"
JSON = {"content-type": "application/json"}
AUTH = {**JSON, "authorization": f"Bearer {TOKEN}"}

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


SERIES = [float(i % 7) for i in range(40)]


def _train(
    data: Any = None, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"data": {"series": SERIES, "window": 5} if data is None else data, **fields}
    return {"body": body, "path": "/v1/train", "headers": AUTH if headers is None else headers}


_JOB = "0123456789abcdef0123456789abcdef"  # a well-formed id that no job has
_INPUTS = [[[0.0, 1.0, 2.0]] * 4] * 6

BAD_TRAIN_REQUESTS = [
    BadRequest("train-no-token", 401, "unauthorized", [], **_train(headers=JSON)),
    BadRequest("train-basic-auth", 401, "unauthorized", [],
               **_train(headers={**JSON, "authorization": "Basic dXNlcjpwdw=="})),
    BadRequest("train-wrong-token", 403, "forbidden", [],
               **_train(headers={**JSON, "authorization": "Bearer " + "x" * len(TOKEN)})),
    BadRequest("train-no-token-bad-body", 401, "unauthorized", [],
               **_train(data={"series": "nope"}, headers=JSON)),
    BadRequest("train-empty-data", 422, "invalid_input", ["data"], **_train(data={})),
    BadRequest("train-two-forms", 422, "invalid_input", ["data"],
               **_train(data={"series": SERIES, "window": 5, "inputs": _INPUTS})),
    BadRequest("train-nan-input", 422, "invalid_input", ["data", "inputs", 1, 2, 0],
               raw='{"data": {"inputs": [[[1], [1], [1]], [[1], [1], [NaN]]], '
                   '"targets": [[1], [2]]}}', path="/v1/train", headers=AUTH),
    BadRequest("train-string-in-series", 422, "invalid_input", ["data", "series", 3],
               **_train(data={"series": [1.0, 2.0, 3.0, "4", 5.0, 6.0], "window": 2})),
    BadRequest("train-ragged-inputs", 422, "invalid_input", ["data", "inputs", 1],
               **_train(data={"inputs": [[[1.0], [2.0]], [[1.0]]], "targets": [[1.0], [2.0]]})),
    BadRequest("train-targets-count", 422, "invalid_input", ["data", "targets"],
               **_train(data={"inputs": _INPUTS, "targets": [[1.0]] * 5})),
    BadRequest("train-window-too-long", 422, "invalid_input", ["data", "series"],
               **_train(data={"series": SERIES, "window": 40})),
    BadRequest("train-no-window", 422, "invalid_input", ["data", "window"],
               **_train(data={"series": SERIES})),
    BadRequest("train-window-with-inputs", 422, "invalid_input", ["data", "window"],
               **_train(data={"inputs": _INPUTS, "targets": [[1.0]] * 6, "window": 2})),
    BadRequest("train-one-sample-split", 422, "invalid_input", ["data", "inputs"],
               **_train(data={"inputs": _INPUTS[:1], "targets": [[1.0]]})),
    BadRequest("train-epochs-over-limit", 422, "invalid_input", ["training", "epochs"],
               **_train(training={"epochs": 201})),
    BadRequest("train-processes-over-limit", 422, "invalid_input", ["training", "processes"],
               **_train(training={"processes": 3})),
    BadRequest("train-zero-processes", 422, "invalid_input", ["training", "processes"],
               **_train(training={"processes": 0})),
    BadRequest("train-negative-lr", 422, "invalid_input", ["training", "learning_rate"],
               **_train(training={"learning_rate": -0.1})),
    BadRequest("train-unknown-hyperparameter", 422, "invalid_input", ["training", "momentum"],
               **_train(training={"momentum": 0.9})),
    BadRequest("train-if-better-without-validation", 422, "invalid_input",
               ["training", "validation_split"],
               **_train(training={"validation_split": 0.0}, activate="if_better")),
    BadRequest("train-unknown-policy", 422, "invalid_input", ["activate"],
               **_train(activate="sometimes")),
    BadRequest("train-hidden-too-big", 422, "invalid_input", ["model", "hidden_size"],
               **_train(model={"hidden_size": 100_000})),
    BadRequest("train-unknown-init-from", 404, "unknown_model_version", ["init_from"],
               **_train(init_from="999")),
    BadRequest("train-init-from-other-sizes", 422, "invalid_input", ["init_from"],
               **_train(init_from="1")),
    BadRequest("train-init-from-other-architecture", 422, "invalid_input", ["model"],
               **_train(data={"inputs": _INPUTS, "targets": [[1.0, 2.0]] * 6},
                        init_from="1", model={"hidden_size": 4})),
    BadRequest("train-unknown-dataset", 404, "unknown_dataset", ["data", "dataset_id"],
               **_train(data={"dataset_id": _JOB})),
    BadRequest("train-malformed-dataset-id", 422, "invalid_input", ["data", "dataset_id"],
               **_train(data={"dataset_id": "../etc"})),
    BadRequest("train-too-many-values", 413, "payload_too_large", ["data"],
               **_train(data={"series": [0.5] * 3000, "window": 10})),
    BadRequest("train-too-many-samples", 413, "payload_too_large", ["data"],
               **_train(data={"series": [0.5] * 2500, "window": 1})),
    BadRequest("train-text-plain", 415, "unsupported_media_type", [], raw="{}",
               path="/v1/train", headers={"content-type": "text/plain", **{
                   "authorization": AUTH["authorization"]}}),
    BadRequest("train-invalid-json", 400, "invalid_json", [], raw='{"data": ',
               path="/v1/train", headers=AUTH),
    BadRequest("cancel-no-token", 401, "unauthorized", [], path=f"/v1/train/{_JOB}/cancel",
               headers={}),
    BadRequest("cancel-unknown-job", 404, "unknown_job", ["job_id"],
               path=f"/v1/train/{_JOB}/cancel", headers=AUTH),
    BadRequest("get-unknown-job", 404, "unknown_job", ["job_id"], method="GET",
               path=f"/v1/train/{_JOB}"),
    BadRequest("events-unknown-job", 404, "unknown_job", ["job_id"], method="GET",
               path=f"/v1/train/{_JOB}/events"),
    BadRequest("get-malformed-job-id", 422, "invalid_input", ["job_id"], method="GET",
               path="/v1/train/not-a-job"),
    BadRequest("list-jobs-bad-limit", 422, "invalid_input", ["limit"], method="GET",
               path="/v1/train?limit=0"),
    BadRequest("list-jobs-bad-state", 422, "invalid_input", ["state"], method="GET",
               path="/v1/train?state=sleeping"),
    BadRequest("activate-no-token", 401, "unauthorized", [], path="/v1/models/1/activate",
               headers={}),
    BadRequest("activate-wrong-token", 403, "forbidden", [], path="/v1/models/1/activate",
               headers={"authorization": f"Bearer {TOKEN[:-1]}"}),
    BadRequest("activate-unknown-version", 404, "unknown_model_version", ["version"],
               path="/v1/models/999/activate", headers=AUTH),
    BadRequest("upload-no-token", 401, "unauthorized", [], raw="a,b\n1,2\n",
               path="/v1/datasets", headers={"content-type": "text/csv"}),
    BadRequest("upload-wrong-type", 415, "unsupported_media_type", [], raw="{}",
               path="/v1/datasets", headers=AUTH),
    BadRequest("upload-bad-csv", 422, "invalid_input", ["body", "series", 1, "b"],
               raw="a,b\n1,2\n3,x\n",
               path="/v1/datasets", headers={**AUTH, "content-type": "text/csv"}),
    BadRequest("upload-not-npz", 400, "invalid_body", ["body"], raw=b"PK-not-a-zip",
               path="/v1/datasets", headers={**AUTH, "content-type": "application/x-npz"}),
    BadRequest("upload-too-large", 413, "payload_too_large", [], raw="a\n" + "1\n" * 20_000,
               path="/v1/datasets", headers={**AUTH, "content-type": "text/csv"}),
    BadRequest("get-unknown-dataset", 404, "unknown_dataset", ["dataset_id"], method="GET",
               path=f"/v1/datasets/{_JOB}"),
]  # fmt: skip
BAD_REQUESTS += BAD_TRAIN_REQUESTS


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
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
