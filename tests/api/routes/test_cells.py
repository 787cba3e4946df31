"""A GRU served and trained over HTTP, as an LSTM is: its state is h alone on /v1 (a c sent
to it is a 422 at its location), /v2 lists no c0 or cn, a session keeps h and goes on from it,
and a job trains the cell it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from model.checkpoint import save_checkpoint
from model.config import LSTMConfig
from model.torch_predictor import TorchPredictor
from tests.support.bad_requests import AUTH
from tests.support.checkpoints import make_checkpoint
from tests.support.jobs import SMALL_JOB, submit_async, wait_for_async

pytestmark = pytest.mark.anyio

GRU = LSTMConfig(input_size=3, hidden_size=8, num_layers=2, output_size=2, cell="gru")
STEPS = [[[0.5, -1.0, 2.0], [0.1, 0.2, 0.3], [1.0, 0.0, -1.0]]]


@pytest.fixture
def small_checkpoint(tmp_path: Path) -> Path:
    """The served model is a GRU."""
    path = tmp_path / "gru.safetensors"
    save_checkpoint(make_checkpoint(config=GRU), path)
    return path


async def predict(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_v1_state_is_h_alone_and_continues(
    client: httpx.AsyncClient, small_checkpoint: Path
) -> None:
    whole = await predict(client, {"inputs": STEPS, "return_state": True})
    assert set(whole["state"]) == {"h"}
    first = await predict(client, {"inputs": [STEPS[0][:2]], "return_state": True})
    second = await predict(client, {"inputs": [STEPS[0][2:]], "state": first["state"]})
    np.testing.assert_allclose(second["predictions"], whole["predictions"], atol=1e-5)
    expected = TorchPredictor(make_checkpoint(config=GRU)).predict(
        np.asarray(STEPS, np.float32), np.array([3])
    )
    np.testing.assert_allclose(whole["predictions"], expected.predictions, atol=1e-5)
    refused = await client.post("/v1/predict", json={"inputs": STEPS, "state": {
        "h": whole["state"]["h"], "c": whole["state"]["h"]}})  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["error"]["location"] == ["state", "c"]
    assert "gru has no cell state" in refused.json()["error"]["message"]


async def test_v2_lists_no_cell_state(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/lstm")).json()
    assert [t["name"] for t in metadata["inputs"]] == ["inputs", "lengths", "h0"]
    assert [t["name"] for t in metadata["outputs"]] == ["predictions", "hn", "sequence"]
    tensor = {"name": "inputs", "shape": [1, 3, 3], "datatype": "FP32",
              "data": [v for step in STEPS[0] for v in step]}  # fmt: skip
    answer = await client.post("/v2/models/lstm/infer", json={
        "inputs": [tensor], "outputs": [{"name": "hn"}]})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["shape"] == [2, 1, 8]
    refused = await client.post("/v2/models/lstm/infer", json={
        "inputs": [tensor], "outputs": [{"name": "cn"}]})  # fmt: skip
    assert refused.status_code == 400 or refused.status_code == 422
    assert "unknown output 'cn'" in refused.text


async def test_a_session_keeps_h_and_goes_on_from_it(client: httpx.AsyncClient) -> None:
    whole = await predict(client, {"inputs": STEPS})
    for steps in ([STEPS[0][:1]], [STEPS[0][1:]]):
        last = await predict(client, {"inputs": steps, "session_id": "gru-1"})
    np.testing.assert_allclose(last["predictions"], whole["predictions"], atol=1e-5)


async def test_a_job_trains_the_cell_it_names(client: httpx.AsyncClient) -> None:
    body = {**SMALL_JOB, "model": {"hidden_size": 8, "cell": "rnn", "nonlinearity": "relu"},
            "training": {"epochs": 2}}  # fmt: skip
    done = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert done["state"] == "succeeded", done
    version = (await client.get(f"/v1/models/{done['model_version']}")).json()
    assert version["config"]["cell"] == "rnn" and version["config"]["nonlinearity"] == "relu"
    refused = await client.post("/v1/train", headers=AUTH, json={
        **SMALL_JOB, "model": {"cell": "gru", "nonlinearity": "relu"}})  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["error"]["location"] == ["model", "nonlinearity"]
