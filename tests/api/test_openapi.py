"""The OpenAPI document: every route, its error responses in the one error shape, examples
that the request schema accepts, and the docs page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.protocol.v1.schemas import PredictRequest, TrainRequest
from tests.support.bad_requests import AUTH

pytestmark = pytest.mark.anyio

ERROR_REF = "#/components/schemas/ErrorResponse"
V2_ERROR_REF = "#/components/schemas/V2Error"  # the Open Inference Protocol's error shape
EXPECTED = {
    ("get", "/healthz"): set(),
    ("get", "/readyz"): {"503"},
    ("get", "/metrics"): set(),
    ("post", "/v1/predict"): {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"},
    ("post", "/v1/forecast"): {"400", "401", "403", "404", "413", "415", "422", "503"},
    ("get", "/v1/models"): {"503"},
    ("get", "/v1/models/{version}"): {"404", "422", "503"},
    ("delete", "/v1/sessions/{session_id}"): {"401", "403", "404", "422", "503"},
    ("post", "/v1/models/{version}/activate"): {"401", "403", "404", "409", "422", "503"},
    ("get", "/v1/models/{version}/export"): {"401", "403", "404", "409", "422", "503"},
    ("post", "/v1/train"): {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"},
    ("get", "/v1/train"): {"422", "503"},
    ("get", "/v1/train/{job_id}"): {"404", "422", "503"},
    ("get", "/v1/train/{job_id}/events"): {"404", "422", "503"},
    ("get", "/v1/train/{job_id}/loss.svg"): {"404", "422", "503"},
    ("get", "/v1/train/{job_id}/loss.png"): {"404", "422", "503"},
    ("post", "/v1/train/{job_id}/cancel"): {"401", "403", "404", "409", "422", "503"},
    ("post", "/v1/train/{job_id}/resume"): {"401", "403", "404", "409", "422", "503"},
    ("post", "/v1/datasets"): {"400", "401", "403", "409", "413", "415", "422", "503", "507"},
    ("get", "/v1/datasets"): {"503"},
    ("get", "/v1/datasets/{dataset_id}"): {"404", "422", "503"},
    ("delete", "/v1/datasets/{dataset_id}"): {"401", "403", "404", "422", "503", "507"},
    ("get", "/v2"): set(),
    ("get", "/v2/health/live"): set(),
    ("get", "/v2/health/ready"): {"503"},
    ("get", "/v2/models/{name}"): {"404", "503"},
    ("get", "/v2/models/{name}/versions/{version}"): {"404", "503"},
    ("get", "/v2/models/{name}/ready"): {"404", "503"},
    ("get", "/v2/models/{name}/versions/{version}/ready"): {"404", "409", "503"},
    ("post", "/v2/models/{name}/infer"): {"400", "401", "403", "404", "409", "413", "429", "503"},
    ("post", "/v2/models/{name}/versions/{version}/infer"): {
        "400", "401", "403", "404", "409", "413", "429", "503",
    },
}  # fmt: skip
INFERENCE = {  # need an inference key when the server has any
    ("post", "/v1/predict"),
    ("post", "/v1/forecast"),
    ("delete", "/v1/sessions/{session_id}"),
    ("post", "/v2/models/{name}/infer"),
    ("post", "/v2/models/{name}/versions/{version}/infer"),
}
MANAGEMENT = {
    ("post", "/v1/models/{version}/activate"),
    ("get", "/v1/models/{version}/export"),
    ("post", "/v1/train"),
    ("post", "/v1/train/{job_id}/cancel"),
    ("post", "/v1/train/{job_id}/resume"),
    ("post", "/v1/datasets"),
    ("delete", "/v1/datasets/{dataset_id}"),
}


async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_route_declares_its_errors(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    found = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(found) == set(EXPECTED)
    for key, operation in found.items():
        errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
        assert errors == EXPECTED[key], key
        ref = V2_ERROR_REF if key[1].startswith("/v2") else ERROR_REF
        for code in errors:
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ref}
        assert operation["description"] and operation["tags"]
        schemes = {name for need in operation.get("security", []) for name in need}
        expected = {"HTTPBearer"} if key in MANAGEMENT else set()
        assert schemes == expected | ({"InferenceKey"} if key in INFERENCE else set()), key
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for scheme in ("HTTPBearer", "InferenceKey"):
        assert document["components"]["securitySchemes"][scheme]["scheme"] == "bearer"


async def test_request_examples_are_valid_requests(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    schemas = document["components"]["schemas"]
    # The predict route reads its own body, so its schema sits inline, beside the binary types.
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-npy", "application/x-npz"}
    predict_request = body["application/json"]["schema"]
    examples = predict_request["examples"]
    assert examples and all(PredictRequest.model_validate(e) for e in examples)
    assert predict_request["additionalProperties"] is False
    assert schemas["PredictResponse"]["examples"]
    # The train route reads its body after the token check: its schema sits inline too.
    train = document["paths"]["/v1/train"]["post"]["requestBody"]["content"]["application/json"]
    train_request = train["schema"]
    assert train_request["additionalProperties"] is False
    for name in ("data", "training"):
        assert train_request["properties"][name]["additionalProperties"] is False, name
    model = train_request["properties"]["model"]["anyOf"][0]  # ModelSpec, or null
    assert model["additionalProperties"] is False


async def test_train_request_example_is_accepted(client: httpx.AsyncClient) -> None:
    """The documented example starts a job (its data is checked like any other)."""
    body = (await spec(client))["paths"]["/v1/train"]["post"]["requestBody"]["content"]
    example = body["application/json"]["schema"]["examples"][0]
    response = await client.post("/v1/train", json=example, headers=AUTH)
    assert response.status_code == 202, response.text
    assert TrainRequest.model_validate(example)


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.json() == {"status": "ready", "model": {"name": "lstm", "version": "1"}}


async def test_models_list_and_detail(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    assert listing["active"] == "1"
    assert [(v["version"], v["active"]) for v in listing["versions"]] == [("1", True)]
    detail = (await client.get("/v1/models/1")).json()
    assert detail["config"] == {
        "input_size": 3,
        "hidden_size": 8,
        "num_layers": 2,
        "output_size": 2,
        "dropout": 0.0,
        "cell": "lstm",
        "nonlinearity": "tanh",
    }
    assert detail["sha256"] == listing["versions"][0]["sha256"] and len(detail["sha256"]) == 64
    assert detail["source"]["kind"] == "import" and "created_at" in detail["metadata"]
