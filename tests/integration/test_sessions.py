"""Sessions on a real server: continuation equals the whole sequence; idle expiry and the cap
on a server started with a short TTL and room for three sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.reference import expected
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

TTL_S = 3.0  # long enough for the cap test to run inside it on a slow machine
RNG = np.random.default_rng(5)
WHOLE = [RNG.normal(size=(10, 3)).tolist(), RNG.normal(size=(10, 3)).tolist()]


def predict(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def brief_server(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("brief") / "var"
    env = clean_env(session_ttl_seconds=TTL_S, max_sessions=3)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        yield server


@pytest.fixture
def brief(brief_server: Server) -> Iterator[httpx.Client]:
    with brief_server.client() as client:
        yield client


def test_continuation_equals_whole_and_the_model(client: httpx.Client, checkpoint: Path) -> None:
    cuts = [(0, 4), (4, 5), (5, 10)]
    for a, b in cuts:
        last = predict(client, inputs=[s[a:b] for s in WHOLE], session_id="stream-1",
                       return_state=True)  # fmt: skip
        assert last["session"]["started"] is (a == 0)
    for row, sequence in enumerate(WHOLE):
        want = expected(checkpoint, sequence)
        np.testing.assert_allclose(last["predictions"][row], want.prediction, atol=1e-5)
        np.testing.assert_allclose(np.array(last["state"]["c"])[:, row], want.c, atol=1e-5)
    assert client.delete("/v1/sessions/stream-1").status_code == 204


def test_state_with_a_started_session_is_409(client: httpx.Client) -> None:
    first = predict(client, inputs=WHOLE, session_id="stream-2", return_state=True)
    response = client.post(
        "/v1/predict", json={"inputs": WHOLE, "session_id": "stream-2", "state": first["state"]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_conflict"


def test_idle_session_expires(brief: httpx.Client) -> None:
    predict(brief, inputs=WHOLE, session_id="idle")
    assert predict(brief, inputs=WHOLE, session_id="idle")["session"]["started"] is False
    time.sleep(TTL_S + 0.3)
    assert brief.delete("/v1/sessions/idle").status_code == 404
    restarted = predict(brief, inputs=WHOLE, session_id="idle")
    assert restarted["session"]["started"] is True
    np.testing.assert_allclose(
        restarted["predictions"], predict(brief, inputs=WHOLE)["predictions"], atol=1e-6
    )


def test_cap_evicts_the_least_recently_used(brief: httpx.Client) -> None:
    for name in ("one", "two", "three"):
        predict(brief, inputs=WHOLE, session_id=name)
    predict(brief, inputs=WHOLE, session_id="one")  # "two" is now the least recently used
    predict(brief, inputs=WHOLE, session_id="four")
    statuses = {
        n: brief.delete(f"/v1/sessions/{n}").status_code for n in ("one", "two", "three", "four")
    }
    assert statuses == {"one": 204, "two": 404, "three": 204, "four": 204}
