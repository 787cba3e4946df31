"""The OpenAPI document: every route, its error responses in the one error shape, examples
that the request schema accepts, and the docs page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.schemas import PredictRequest

pytestmark = pytest.mark.anyio

ERROR_REF = "#/components/schemas/ErrorResponse"
EXPECTED = {
    ("get", "/healthz"): set(),
    ("get", "/readyz"): {"503"},
    ("post", "/v1/predict"): {"400", "404", "409", "413", "415", "422", "503"},
    ("get", "/v1/models"): {"503"},
    ("get", "/v1/models/{version}"): {"404", "422", "503"},
    ("delete", "/v1/sessions/{session_id}"): {"404", "422", "503"},
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
        for code in errors:
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}
        assert operation["description"] and operation["tags"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_request_examples_are_valid_requests(client: httpx.AsyncClient) -> None:
    schemas = (await spec(client))["components"]["schemas"]
    examples = schemas["PredictRequest"]["examples"]
    assert examples and all(PredictRequest.model_validate(e) for e in examples)
    assert schemas["PredictResponse"]["examples"]
    assert schemas["PredictRequest"]["additionalProperties"] is False


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
    }
    assert detail["sha256"] == listing["versions"][0]["sha256"] and len(detail["sha256"]) == 64
    assert detail["source"]["kind"] == "import" and "created_at" in detail["metadata"]
