"""Every malformed request, over a real socket: its status, the one error shape, and the
server still up afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.bad_requests import BAD_REQUESTS, LIMITS, STEP, BadRequest, check_error
from tests.support.observability import access_lines
from tests.support.servers import Server

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda case: case.id)
def test_bad_request(client: httpx.Client, case: BadRequest) -> None:
    response = client.request(case.method, case.path, content=case.content(), headers=case.headers)
    check_error(response, case)


def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": [['
        for _ in range(LIMITS["max_body_bytes"] // 1000 + 1):
            yield b"[1, 2, 3], " * 100
        yield b"[1, 2, 3]]]}"

    response = client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    check_error(response, BadRequest("chunked", 413, "payload_too_large", []))


def test_server_is_up_and_never_answered_500(server: Server, client: httpx.Client) -> None:
    for case in BAD_REQUESTS:
        client.request(case.method, case.path, content=case.content(), headers=case.headers)
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/predict", json={"inputs": [[STEP]]}).status_code == 200
    assert server.process.poll() is None
    statuses = {line["status"] for line in access_lines(server.log.read_text())}
    assert 200 in statuses and 500 not in statuses  # the log's access lines, JSON
    assert client.get("/v1/train").json()["jobs"] == []  # bad requests create no job
    assert client.get("/v1/datasets").json()["datasets"] == []
