"""Streaming sessions over HTTP: continuation equals the whole sequence, version pinning,
conflicts, expiry (with a fake clock) and the cap."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.serving.services import Services
from tests.support.checkpoints import write_checkpoint
from tests.support.inprocess import FakeClock

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(11)
WHOLE = [RNG.normal(size=(8, 3)).tolist(), RNG.normal(size=(8, 3)).tolist()]


async def post(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/predict", json=body)


async def ok(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await post(client, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_session_continuation_equals_whole(client: httpx.AsyncClient) -> None:
    whole = await ok(client, inputs=WHOLE, return_state=True)
    chunks = [(0, 3), (3, 4), (4, 8)]
    results = [
        await ok(client, inputs=[s[a:b] for s in WHOLE], session_id="s1", return_state=True)
        for a, b in chunks
    ]
    assert [r["session"]["started"] for r in results] == [True, False, False]
    assert results[-1]["session"] == {"id": "s1", "version": "1", "started": False}
    np.testing.assert_allclose(results[-1]["predictions"], whole["predictions"], atol=1e-5)
    np.testing.assert_allclose(results[-1]["state"]["c"], whole["state"]["c"], atol=1e-5)


async def test_state_seeds_a_new_session_but_conflicts_with_a_started_one(
    client: httpx.AsyncClient,
) -> None:
    first = await ok(client, inputs=[s[:4] for s in WHOLE], return_state=True)
    seeded = await ok(client, inputs=[s[4:] for s in WHOLE], state=first["state"], session_id="s")
    whole = await ok(client, inputs=WHOLE)
    np.testing.assert_allclose(seeded["predictions"], whole["predictions"], atol=1e-5)
    response = await post(
        client, inputs=[s[4:] for s in WHOLE], state=first["state"], session_id="s"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_conflict"
    assert response.json()["error"]["location"] == ["state"]


async def test_session_needs_the_same_number_of_sequences(client: httpx.AsyncClient) -> None:
    await ok(client, inputs=WHOLE, session_id="pair")
    response = await post(client, inputs=WHOLE[:1], session_id="pair")
    assert response.status_code == 422
    assert response.json()["error"]["location"] == ["inputs"]


async def test_session_stays_on_its_version_after_activation(
    client: httpx.AsyncClient, services: Services, other_checkpoint: Path
) -> None:
    whole_v1 = await ok(client, inputs=WHOLE)
    await ok(client, inputs=[s[:5] for s in WHOLE], session_id="pinned")
    second = services.registry.store.import_file(other_checkpoint, {"kind": "test"})
    services.registry.activate(second.version)
    rest = [s[5:] for s in WHOLE]
    result = await ok(client, inputs=rest, session_id="pinned")
    assert result["model"]["version"] == "1" and result["session"]["version"] == "1"
    np.testing.assert_allclose(result["predictions"], whole_v1["predictions"], atol=1e-5)
    conflict = await post(client, inputs=rest, session_id="pinned", model_version="2")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["location"] == ["model_version"]
    assert (await ok(client, inputs=rest, session_id="pinned", model_version="1"))["session"]


async def test_session_whose_version_cannot_load_is_409(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    await ok(client, inputs=WHOLE, session_id="doomed")
    store = services.registry.store
    for seed in (1, 2, 3, 4, 5):  # push version 1 out of the cache of 4 other versions
        stored = store.import_file(write_checkpoint(tmp_path / f"m{seed}.safetensors", seed), {})
        services.registry.activate(stored.version)
    store.checkpoint_path("1").write_bytes(b"not a checkpoint")
    response = await post(client, inputs=WHOLE, session_id="doomed")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "version 1" in response.json()["error"]["message"]


async def test_session_expires_after_idle_ttl(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await ok(client, inputs=WHOLE, session_id="brief")
    clock.advance(59)
    assert (await ok(client, inputs=WHOLE, session_id="brief"))["session"]["started"] is False
    clock.advance(61)
    restarted = await ok(client, inputs=WHOLE, session_id="brief")
    assert restarted["session"]["started"] is True
    alone = await ok(client, inputs=WHOLE)
    np.testing.assert_allclose(restarted["predictions"], alone["predictions"], atol=1e-6)
    clock.advance(61)
    assert (await client.delete("/v1/sessions/brief")).status_code == 404


async def test_least_recently_used_session_goes_first(client: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):  # max_sessions is 3
        await ok(client, inputs=WHOLE, session_id=name)
    await ok(client, inputs=WHOLE, session_id="a")  # now b is the least recently used
    await ok(client, inputs=WHOLE, session_id="d")
    statuses = {name: (await client.delete(f"/v1/sessions/{name}")).status_code for name in "abcd"}
    assert statuses == {"a": 204, "b": 404, "c": 204, "d": 204}


async def test_delete_ends_a_session(client: httpx.AsyncClient) -> None:
    await ok(client, inputs=WHOLE, session_id="x")
    response = await client.delete("/v1/sessions/x")
    assert response.status_code == 204 and response.content == b""
    assert (await client.delete("/v1/sessions/x")).json()["error"]["code"] == "unknown_session"
    assert (await ok(client, inputs=WHOLE, session_id="x"))["session"]["started"] is True


async def test_failed_first_request_leaves_no_session(client: httpx.AsyncClient) -> None:
    response = await post(client, inputs=[[[1.0, 2.0]]], session_id="bad-start")
    assert response.status_code == 422
    assert (await client.delete("/v1/sessions/bad-start")).status_code == 404


async def test_requests_of_one_session_run_one_after_the_other(client: httpx.AsyncClient) -> None:
    """Two chunks sent at once: the later one continues from the earlier one's state."""
    await ok(client, inputs=[s[:2] for s in WHOLE], session_id="busy")
    part_a, part_b = [s[2:5] for s in WHOLE], [s[5:] for s in WHOLE]
    first, second = await asyncio.gather(
        post(client, inputs=part_a, session_id="busy"),
        post(client, inputs=part_b, session_id="busy"),
    )
    assert first.status_code == second.status_code == 200
    final = await ok(client, inputs=[[[0.0, 0.0, 0.0]]] * 2, session_id="busy")
    orders = [
        [s[:2] + a + b + [[0.0, 0.0, 0.0]] for s, a, b in zip(WHOLE, part_a, part_b, strict=True)],
        [s[:2] + b + a + [[0.0, 0.0, 0.0]] for s, a, b in zip(WHOLE, part_a, part_b, strict=True)],
    ]
    candidates = [(await ok(client, inputs=order))["predictions"] for order in orders]
    assert any(np.allclose(final["predictions"], c, atol=1e-5) for c in candidates)
