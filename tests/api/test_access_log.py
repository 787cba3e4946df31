"""Request ids and access lines in process: every answer (errors and the 413 given before
routing included, and a 500) carries `X-Request-ID`, the caller's when it is sane; one access
line per request with the route template; nothing of a token or a body in the log."""

from __future__ import annotations

import io
import logging
import re

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.api.access_log import REQUEST_ID_HEADER
from tests.support.bad_requests import AUTH, JSON, STEP, TOKEN

pytestmark = pytest.mark.anyio

GENERATED = re.compile(r"[0-9a-f]{32}")


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "app.access"]


async def test_a_request_id_is_generated_per_request(client: httpx.AsyncClient) -> None:
    ids = [(await client.get("/healthz")).headers[REQUEST_ID_HEADER] for _ in range(3)]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == 3


@pytest.mark.parametrize("sent", ["abc", "7f3e9c1a-0b2d-4e5f-8a9b-0c1d2e3f4a5b", "a.b_c:d-e"])
async def test_a_sane_request_id_is_kept(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/healthz", headers={REQUEST_ID_HEADER: sent})
    assert response.headers[REQUEST_ID_HEADER] == sent


@pytest.mark.parametrize(
    "sent", ["", "x" * 65, "has space", "quote\"'", "-leading-dash", "ünïcode", "a/b", "{json}"]
)
async def test_an_odd_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    header = [(REQUEST_ID_HEADER.encode(), sent.encode("utf-8"))]  # raw bytes: non-ASCII too
    response = await client.get("/healthz", headers=header)
    assert GENERATED.fullmatch(response.headers[REQUEST_ID_HEADER])


async def test_errors_carry_the_request_id_too(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post("/v1/predict", json={"inputs": []}),  # 422
        await client.get("/nothing/here"),  # 404 without a route
        await client.post("/v1/train", json={}),  # 401
        # 413 from the body limit, answered before routing
        await client.post("/v1/predict", content=b" " * (65 * 1024), headers=JSON),
    ]
    assert [a.status_code for a in answers] == [422, 404, 401, 413]
    assert all(GENERATED.fullmatch(a.headers[REQUEST_ID_HEADER]) for a in answers)


async def test_an_unexpected_error_is_a_500_with_the_request_id_and_logged_once(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken, tags=["test"])
    caplog.set_level(logging.INFO)
    response = await client.get("/broken", headers={REQUEST_ID_HEADER: "crash-1"})
    assert response.status_code == 500 and response.headers[REQUEST_ID_HEADER] == "crash-1"
    assert response.json()["error"]["code"] == "internal_error"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    [line] = access_records(caplog)
    assert (line.status, line.route, line.request_id) == (500, "/broken", "crash-1")  # type: ignore[attr-defined]


async def test_one_access_line_per_request_with_its_fields(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    job_id = "0123456789abcdef0123456789abcdef"
    await client.get(f"/v1/train/{job_id}?limit=5", headers={REQUEST_ID_HEADER: "req-7"})
    [record] = access_records(caplog)
    fields = {
        name: getattr(record, name)
        for name in ("method", "route", "path", "status", "request_id", "client")
    }
    assert fields == {
        "method": "GET",
        "route": "/v1/train/{job_id}",
        "path": f"/v1/train/{job_id}",  # no query string
        "status": 404,
        "request_id": "req-7",
        "client": "127.0.0.1",
    }
    assert 0 < record.duration_ms < 10_000  # type: ignore[attr-defined]
    assert record.getMessage().startswith(f"GET /v1/train/{job_id} 404 ")


async def test_predictions_log_alike_whichever_path_answers_them(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A JSON body is answered by the predict lane, an .npy body by the framework's route, a
    JSON body with a query string by the route too (422): one access line each, same fields."""
    caplog.set_level(logging.INFO, logger="app.access")
    npy = io.BytesIO()
    np.save(npy, np.array([[STEP, STEP]], dtype=np.float32))
    answers = [
        await client.post("/v1/predict", json={"inputs": [[STEP]]}, headers=ID("lane")),
        await client.post(
            "/v1/predict",
            content=npy.getvalue(),
            headers={"content-type": "application/x-npy", **ID("route")},
        ),
        await client.post("/v1/predict?a=1", json={"inputs": [[STEP]]}, headers=ID("q")),
        await client.post("/v1/predict", json={"inputs": "x"}, headers=ID("bad")),
    ]
    assert [a.status_code for a in answers] == [200, 200, 422, 422]
    assert [a.headers[REQUEST_ID_HEADER] for a in answers] == ["lane", "route", "q", "bad"]
    lines = [
        (r.method, r.route, r.path, r.status, r.request_id)  # type: ignore[attr-defined]
        for r in access_records(caplog)
    ]
    assert lines == [
        ("POST", "/v1/predict", "/v1/predict", 200, "lane"),
        ("POST", "/v1/predict", "/v1/predict", 200, "route"),
        ("POST", "/v1/predict", "/v1/predict", 422, "q"),
        ("POST", "/v1/predict", "/v1/predict", 422, "bad"),
    ]


def ID(request_id: str) -> dict[str, str]:  # noqa: N802 (reads as a header)
    return {REQUEST_ID_HEADER: request_id}


async def test_a_path_with_control_characters_cannot_forge_a_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    await client.get("/v1/models/1%0Afake%20line")
    [record] = access_records(caplog)
    assert "\n" not in record.getMessage() and "%0A" in record.path  # type: ignore[attr-defined]


async def test_no_token_authorization_or_body_is_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"inputs": [[[31415.9265, 2.0, 3.0]]], "session_id": "secret-session-9"}
    await client.post("/v1/predict", json=body, headers=AUTH)
    await client.post("/v1/models/1/activate", headers=AUTH)
    await client.post("/v1/train", json={"data": {"series": [27182.818] * 30}}, headers=AUTH)
    wrong = "wrong-token-but-also-secret-0123"
    await client.post("/v1/models/1/activate", headers={"authorization": f"Bearer {wrong}"})
    # Every field of every record but the clock's and the process's numbers, whose digits
    # may spell a secret by chance (relativeCreated 271823.4 ms holds "27182").
    timing = {"created", "msecs", "relativeCreated", "duration_ms", "thread", "process"}
    fields = [{k: v for k, v in vars(r).items() if k not in timing} for r in caplog.records]
    logged = caplog.text + "".join(str(record) for record in fields)
    assert len(access_records(caplog)) == 4
    for secret in (TOKEN, wrong, "Bearer", "authorization", "31415", "27182", "secret-session"):
        assert secret not in logged, secret
