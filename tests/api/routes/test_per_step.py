"""Per-step targets over HTTP: a series cut with a target at every step, or inline targets of
shape (N, T, O), train a model whose every step is scored; `per_step` is refused where there is
no series to cut."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.support.bad_requests import AUTH
from tests.support.jobs import SINE, submit_async, wait_for_async

pytestmark = pytest.mark.anyio

TRAINING = {"epochs": 3, "learning_rate": 0.02, "batch_size": 16}


async def test_a_series_with_a_target_at_every_step_trains(client: httpx.AsyncClient) -> None:
    body = {"data": {"series": SINE, "window": 8, "per_step": True},
            "model": {"hidden_size": 8}, "training": {**TRAINING, "tbptt": 3}}  # fmt: skip
    done = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert done["state"] == "succeeded", done
    assert done["data"]["per_step"] is True and done["data"]["n"] == len(SINE) - 8
    # Scored on every step of the validation windows, in the series' units.
    assert 0.0 < done["result"]["val_mse"] < 1.0


async def test_inline_targets_at_every_step_train(client: httpx.AsyncClient) -> None:
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(40, 5, 2)).round(3)
    body = {"data": {"inputs": inputs.tolist(), "targets": inputs[:, :, :1].tolist()},
            "model": {"hidden_size": 4}, "training": TRAINING}  # fmt: skip
    done = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert done["state"] == "succeeded", done
    assert done["data"]["per_step"] is True and done["data"]["output_size"] == 1


async def test_per_step_needs_a_series_to_cut(client: httpx.AsyncClient) -> None:
    body = {"data": {"inputs": [[[1.0]], [[2.0]]], "targets": [[1.0], [2.0]], "per_step": True}}
    refused = await client.post("/v1/train", json=body, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["error"]["location"] == ["data", "per_step"]
    mismatched = {"data": {"inputs": [[[1.0], [2.0]]] * 2, "targets": [[[1.0]]] * 2}}
    refused = await client.post("/v1/train", json=mismatched, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["error"]["location"] == ["data", "targets"]
