"""Every malformed request gets its status and the one error shape, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.bad_requests import BAD_REQUESTS, LIMITS, STEP, BadRequest, check_error

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda case: case.id)
async def test_bad_request(client: httpx.AsyncClient, case: BadRequest) -> None:
    response = await client.request(
        case.method, case.path, content=case.content(), headers=case.headers
    )
    check_error(response, case)
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/v1/train")).json()["jobs"] == []  # bad requests create no job
    assert (await client.get("/v1/datasets")).json()["datasets"] == []


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    """Without Content-Length the limit is enforced while the body streams in."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"inputs": [['
        for _ in range(LIMITS["max_body_bytes"] // 1000 + 1):
            yield b"[1, 2, 3], " * 100
        yield b"[1, 2, 3]]]}"

    response = await client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    check_error(response, BadRequest("streamed", 413, "payload_too_large", []))


async def test_method_not_allowed_keeps_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/predict")
    assert response.headers["allow"] == "POST"


async def test_good_request_still_works_after_bad_ones(client: httpx.AsyncClient) -> None:
    for case in BAD_REQUESTS[:5]:
        await client.request(case.method, case.path, content=case.content(), headers=case.headers)
    response = await client.post("/v1/predict", json={"inputs": [[STEP]]})
    assert response.status_code == 200
