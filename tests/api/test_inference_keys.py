"""Inference keys over HTTP: predict, sessions and v2 infer need a key when the server has any;
health, readiness, metrics and model listings stay open; a session belongs to its key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.main import create_app, lifespan
from tests.support.bad_requests import LIMITS, TOKEN

pytestmark = pytest.mark.anyio

ALICE, BOB = "alice-key-0123456789abcdef", "bob-key-0123456789abcdefgh"
STEPS = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]
INFER = {"inputs": [{"name": "inputs", "shape": [1, 2, 3], "datatype": "FP32",
                     "data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}]}  # fmt: skip


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def keyed(tmp_path: Path, small_checkpoint: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        model=small_checkpoint,
        data_dir=tmp_path / "var",
        api_token=TOKEN,  # type: ignore[arg-type]
        inference_tokens=[ALICE, BOB],  # type: ignore[list-item]
        **LIMITS,
    )
    app = create_app(settings)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def predict(client: httpx.AsyncClient, key: str | None, **body: Any) -> httpx.Response:
    headers = bearer(key) if key else {}
    return await client.post("/v1/predict", json={"inputs": STEPS, **body}, headers=headers)


async def test_predict_and_infer_need_a_key(keyed: httpx.AsyncClient) -> None:
    missing = await predict(keyed, None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = await predict(keyed, ALICE[::-1])
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    assert (await predict(keyed, ALICE)).status_code == 200
    infer = "/v2/models/lstm/infer"
    assert (await keyed.post(infer, json=INFER)).status_code == 401
    assert (await keyed.post(infer, json=INFER, headers=bearer(BOB))).status_code == 200
    # The management token is not an inference key.
    assert (await predict(keyed, TOKEN)).status_code == 403


async def test_probes_metrics_and_listings_stay_open(keyed: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/v1/models", "/v2/health/ready"):
        assert (await keyed.get(path)).status_code == 200, path


async def test_a_session_belongs_to_the_key_that_started_it(keyed: httpx.AsyncClient) -> None:
    first = await predict(keyed, ALICE, session_id="shared-name", return_state=True)
    assert first.json()["session"]["started"] is True
    # Bob naming the same id gets a session of his own: Alice's state is out of his reach.
    bobs = await predict(keyed, BOB, session_id="shared-name")
    assert bobs.json()["session"]["started"] is True
    again = await predict(keyed, ALICE, session_id="shared-name")
    assert again.json()["session"]["started"] is False
    deleted = await keyed.delete("/v1/sessions/shared-name", headers=bearer(BOB))
    assert deleted.status_code == 204  # Bob's own
    assert (await keyed.delete("/v1/sessions/shared-name", headers=bearer(BOB))).status_code == 404
    assert (await keyed.delete("/v1/sessions/shared-name")).status_code == 401
    assert (await predict(keyed, ALICE, session_id="shared-name")).json()["session"] == {
        "id": "shared-name",
        "version": "1",
        "started": False,
    }


async def test_management_checks_the_token_before_reading_the_body(
    client: httpx.AsyncClient,
) -> None:
    """A body that is not even JSON is answered 401 without a token: it was never parsed."""
    response = await client.post(
        "/v1/train", content=b"{" * 1000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401
    with_token = await client.post(
        "/v1/train",
        content=b"{" * 1000,
        headers={**bearer(TOKEN), "content-type": "application/json"},
    )
    assert with_token.status_code == 400 and with_token.json()["error"]["code"] == "invalid_json"
