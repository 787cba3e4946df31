"""Bad requests to the Open Inference Protocol routes: each gets the protocol's error shape,
`{"error": "message"}` and nothing else, with 400 for bad input and 404 for an unknown model or
version; never a 500. /v1 keeps its own shape."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from app.core.settings import Settings
from app.main import create_app, lifespan
from tests.support.bad_requests import LIMITS
from tests.support.checkpoints import write_checkpoint

pytestmark = pytest.mark.anyio

INFER = "/v2/models/lstm/infer"
HEADER = "Inference-Header-Content-Length"
STEPS = [0.5, -1.0, 2.0, 1.0, 0.0, 3.0]  # one sequence of two steps of 3 features


def inputs(
    data: Any = STEPS, shape: Any = (1, 2, 3), datatype: str = "FP32", **more: Any
) -> dict[str, Any]:
    return {"name": "inputs", "shape": list(shape), "datatype": datatype, "data": data, **more}


def request(*tensors: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"inputs": list(tensors) or [inputs()], **fields}


def binary(header: dict[str, Any], data: bytes, length: int | str | None = None) -> V2Bad:
    """A binary-extension body: the JSON header, then `data`; its length header as given."""
    head = orjson.dumps(header)
    return V2Bad(
        "", 400, "", raw=head + data, headers={HEADER: str(len(head) if length is None else length)}
    )


@dataclass(frozen=True)
class V2Bad:
    id: str
    status: int
    says: str  # a part of the message
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str = INFER

    def named(self, id: str, says: str) -> V2Bad:
        return V2Bad(id, self.status, says, self.body, self.raw, self.headers, self.path)


FLOAT_BYTES = np.array(STEPS, dtype="<f4").tobytes()
RAW_INPUTS = {"name": "inputs", "shape": [1, 2, 3], "datatype": "FP32"}
H0 = {"name": "h0", "shape": [2, 1, 8], "datatype": "FP32", "data": [0.0] * 16}


def lengths(data: list[Any], datatype: str = "INT64") -> dict[str, Any]:
    return {"name": "lengths", "shape": [len(data)], "datatype": datatype, "data": data}


def raw_inputs(size: int, **more: Any) -> dict[str, Any]:
    return request({**RAW_INPUTS, "parameters": {"binary_data_size": size}, **more})


BAD = [
    V2Bad("invalid-json", 400, "Invalid JSON", raw=b'{"inputs": ['),
    V2Bad("no-inputs", 400, "inputs: Field required", body={}),
    V2Bad("empty-inputs", 400, "at least 1 item", body={"inputs": []}),
    V2Bad("unknown-field", 400, "Extra inputs", body=request(mystery=1)),
    V2Bad("datatype", 400, "must be FP32 or FP64, not INT32",
          body=request(inputs([1] * 6, datatype="INT32"))),
    V2Bad("unsupported-datatype", 400, "'BYTES' is not supported",
          body=request(inputs(["a"], (1,), "BYTES"))),
    V2Bad("rank", 400, "shape (B, T, F)", body=request(inputs(STEPS, (6,)))),
    V2Bad("features", 400, "needs 3 features, got 2", body=request(inputs(STEPS, (1, 3, 2)))),
    V2Bad("empty-batch", 400, "shape (B, T, F)", body=request(inputs([], (0, 2, 3)))),
    V2Bad("negative-dimension", 400, "negative dimension",
          body=request(inputs(STEPS, (-1, 2, 3)))),
    V2Bad("data-length", 400, "data has 5 values; shape [1, 2, 3] takes 6",
          body=request(inputs(STEPS[:5]))),
    V2Bad("ragged-data", 400, "nested lists of different lengths",
          body=request(inputs([[0.5, 1.0, 2.0], [1.0, 2.0]]))),
    V2Bad("boolean", 400, "found true or false", body=request(inputs([*STEPS[:5], True]))),
    V2Bad("string", 400, "found a string", body=request(inputs([*STEPS[:5], "1"]))),
    V2Bad("null", 400, "found null", body=request(inputs([*STEPS[:5], None]))),
    V2Bad("nan", 400, "finite number (at inputs[0][1][2])",
          raw=b'{"inputs": [{"name": "inputs", "shape": [1, 2, 3], "datatype": "FP64", '
              b'"data": [0, 1, 2, 3, 4, NaN]}]}'),
    V2Bad("infinity", 400, "finite number",
          raw=b'{"inputs": [{"name": "inputs", "shape": [1, 1, 3], "datatype": "FP32", '
              b'"data": [1e999, 0, 0]}]}'),
    V2Bad("beyond-float32", 400, "less than or equal to",
          body=request(inputs([*STEPS[:5], 1e39]))),
    V2Bad("unknown-input", 400, "unknown input 'x'", body=request(inputs(), inputs(name="x"))),
    V2Bad("input-twice", 400, "given twice", body=request(inputs(), inputs())),
    V2Bad("missing-inputs-tensor", 400, "'inputs' is missing", body=request(lengths([2]))),
    V2Bad("lengths-datatype", 400, "must be INT32 or INT64",
          body=request(inputs(), lengths([2], "FP32"))),
    V2Bad("lengths-not-integers", 400, "data must be integers",
          body=request(inputs(), lengths([2.0]))),
    V2Bad("lengths-range", 400, "between 1 and T=2", body=request(inputs(), lengths([3]))),
    V2Bad("h0-without-c0", 400, "both h0 and c0", body=request(inputs(), H0)),
    V2Bad("h0-shape", 400, "h0 must have shape [num_layers=2, B=1, hidden_size=8], got [1, 1, 8]",
          body=request(inputs(), {**H0, "shape": [1, 1, 8], "data": [0.0] * 8},
                       {**H0, "name": "c0"})),
    V2Bad("unknown-output", 400, "unknown output 'logits'",
          body=request(outputs=[{"name": "logits"}])),
    V2Bad("output-twice", 400, "asked for twice",
          body=request(outputs=[{"name": "hn"}, {"name": "hn"}])),
    V2Bad("classification", 400, "outputs.0.parameters.classification",
          body=request(outputs=[{"name": "hn", "parameters": {"classification": 2}}])),
    V2Bad("unknown-parameter", 400, "parameters.priority",
          body=request(parameters={"priority": 1})),
    V2Bad("start-without-id", 400, "need a sequence_id",
          body=request(parameters={"sequence_start": True})),
    V2Bad("sequence-id-negative", 400, "parameters.sequence_id",
          body=request(parameters={"sequence_id": -1})),
    V2Bad("sequence-id-pattern", 400, "parameters.sequence_id",
          body=request(parameters={"sequence_id": "a b"})),
    V2Bad("model-name", 400, "model_name 'other' is not the path's 'lstm'",
          body=request(model_name="other")),
    V2Bad("too-many-sequences", 413, "9 sequences; at most 8",
          body=request(inputs([0.0] * 27, (9, 1, 3)))),
    V2Bad("unknown-model", 404, "unknown model 'other'", body=request(),
          path="/v2/models/other/infer"),
    V2Bad("unknown-version", 404, "no model version '3'", body=request(),
          path="/v2/models/lstm/versions/3/infer"),
    V2Bad("unknown-route", 404, "Not Found", body=request(), path="/v2/models/lstm/explain"),
    # The binary tensor data extension.
    binary(request(), b"", length="x")
    .named("header-length-not-a-number", "must be the JSON header's length"),
    binary(request(), b"", length=10**6).named("header-length-past-the-body", "at most the body's"),
    binary(request(), b"", length=5).named("header-cut-short", "Invalid JSON"),
    binary(raw_inputs(20), FLOAT_BYTES)
    .named("binary-size-off-shape", "binary_data_size is 20, but shape [1, 2, 3] of FP32 takes 24"),
    binary(raw_inputs(24), FLOAT_BYTES[:12])
    .named("binary-data-short", "the body ends before its 24 bytes"),
    binary(raw_inputs(24), FLOAT_BYTES + b"xx")
    .named("binary-data-long", "2 bytes follow the binary inputs' data"),
    binary(raw_inputs(24, data=STEPS), FLOAT_BYTES)
    .named("data-and-binary", "both data and binary_data_size"),
    binary(request(RAW_INPUTS), b"").named("no-data", "neither data nor binary_data_size"),
    binary(raw_inputs(24), np.array([0, 1, 2, 3, 4, np.nan], dtype="<f4").tobytes())
    .named("binary-nan", "finite number (at inputs[0][1][2])"),
]  # fmt: skip


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def shared_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the many cases below (each refused, so none changes it): an app per case
    would add half a second each."""
    tmp = tmp_path_factory.mktemp("v2-errors")
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("LSTM_SERVE_")]:
            env.delenv(name)
        settings = Settings(model=write_checkpoint(tmp / "small.safetensors"),
                            data_dir=tmp / "var", no_auth=True, **LIMITS)  # fmt: skip
    app = create_app(settings)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
async def test_bad_request_gets_the_protocol_error(
    shared_client: httpx.AsyncClient, case: V2Bad
) -> None:
    content = case.raw if case.raw is not None else orjson.dumps(case.body)
    response = await shared_client.post(case.path, content=content, headers=case.headers)
    assert response.status_code == case.status, response.text
    answer = response.json()
    assert set(answer) == {"error"} and case.says in answer["error"], answer


async def test_unknown_model_and_version_in_metadata_and_readiness(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v2/models/other", "/v2/models/other/ready", "/v2/models/lstm/versions/3",
                 "/v2/models/lstm/versions/3/ready"):  # fmt: skip
        response = await client.get(path)
        assert response.status_code == 404 and set(response.json()) == {"error"}, path


async def test_method_not_allowed_and_over_the_body_limit(client: httpx.AsyncClient) -> None:
    wrong_method = await client.get(INFER)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert set(wrong_method.json()) == {"error"}
    too_big = await client.post(INFER, content=b" " * (LIMITS["max_body_bytes"] + 1))
    assert too_big.status_code == 413
    assert too_big.json() == {
        "error": f"request body over the limit of {LIMITS['max_body_bytes']} bytes"
    }


async def test_v1_keeps_its_own_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/predict", json={"inputs": [[[1.0, 2.0]]]})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


HUGE_SHAPES = [
    V2Bad("huge-dimension", 400, "holds more values than the body's",
          body=request(inputs(STEPS, (2**62, 2, 3)))),
    V2Bad("past-64-bits", 400, "holds more values than the body's",
          raw=json.dumps(request(inputs(STEPS, (10**30, 2, 3)))).encode()),
    V2Bad("empty-but-huge", 400, "holds more values than the body's",
          body=request(inputs([], (0, 2**62, 2**62)))),
    V2Bad("negative-and-zero", 400, "negative dimension", body=request(inputs([], (0, -1, 3)))),
    V2Bad("nine-dimensions", 400, "at most 8 items",
          body=request(inputs([1.0], (1,) * 9))),
    binary(raw_inputs(0, shape=[0, 2**62, 2**62]), b"")
    .named("binary-empty-but-huge", "holds more values than the body's"),
    binary(raw_inputs(24, shape=[2**40, 2**40, 3]), FLOAT_BYTES)
    .named("binary-huge", "holds more values than the body's"),
]  # fmt: skip


@pytest.mark.parametrize("case", HUGE_SHAPES, ids=lambda case: case.id)
async def test_a_shape_the_body_cannot_hold_is_400(
    shared_client: httpx.AsyncClient, case: V2Bad
) -> None:
    await test_bad_request_gets_the_protocol_error(shared_client, case)
