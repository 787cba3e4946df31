"""POST /v1/models/{version}/activate: the hot swap, rollback, and what cannot be activated."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.serving.services import Services
from tests.support.bad_requests import AUTH, STEP

pytestmark = pytest.mark.anyio


async def version_of_a_prediction(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/predict", json={"inputs": [[STEP]]})
    assert response.status_code == 200
    version: str = response.json()["model"]["version"]
    return version


async def test_activate_swaps_and_rolls_back(
    client: httpx.AsyncClient, services: Services, other_checkpoint: Path
) -> None:
    services.registry.store.import_file(other_checkpoint, {"kind": "import"})
    response = await client.post("/v1/models/2/activate", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"active": "2", "previous": "1"}
    assert await version_of_a_prediction(client) == "2"
    assert services.registry.store.active_version() == "2"
    listing = (await client.get("/v1/models")).json()
    assert listing["active"] == "2" and [v["active"] for v in listing["versions"]] == [False, True]
    rollback = await client.post("/v1/models/1/activate", headers=AUTH)
    assert rollback.json() == {"active": "1", "previous": "2"}
    assert await version_of_a_prediction(client) == "1"


async def test_a_version_that_cannot_be_loaded_is_409_and_changes_nothing(
    client: httpx.AsyncClient, services: Services, other_checkpoint: Path
) -> None:
    store = services.registry.store
    store.import_file(other_checkpoint, {"kind": "import"})
    store.checkpoint_path("2").write_bytes(b"truncated")
    response = await client.post("/v1/models/2/activate", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_unavailable"
    assert store.active_version() == "1" and await version_of_a_prediction(client) == "1"
