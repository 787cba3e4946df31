"""A job's model is bounded before the job exists: its input size, output size and parameter
count (of a new model or of a fine-tuned version) past the server's settings are a 413 located
at what the request sent, and no job row or file is made."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest

from app.core.settings import Settings
from app.serving.services import Services
from model.config import LSTMConfig
from tests.support.bad_requests import AUTH, TOKEN
from tests.support.checkpoints import SMALL_CONFIG
from tests.support.jobs import SINE, submit_async

pytestmark = pytest.mark.anyio

MAX_PARAMETERS = 1000
MAX_INPUTS = 4
MAX_OUTPUTS = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_model_parameters": MAX_PARAMETERS,
            "max_model_input_size": MAX_INPUTS,
            "max_model_output_size": MAX_OUTPUTS,
        }
    )


def arrays(features: int, outputs: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(20, 4, features)).round(3).tolist()
    return {"inputs": inputs, "targets": rng.normal(size=(20, outputs)).round(3).tolist()}


def series(columns: int) -> list[list[float]]:
    return [[v] * columns for v in SINE[:40]]


async def refused(client: httpx.AsyncClient, services: Services, body: dict[str, Any]) -> Any:
    """The 413's error body, after checking that no job exists, in the database or on disk."""
    response = await client.post("/v1/train", json=body, headers=AUTH)
    assert response.status_code == 413, response.text
    assert (await client.get("/v1/train")).json()["jobs"] == []
    jobs_dir = services.jobs.jobs.data_dir / "jobs"
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []
    return response.json()["error"]


@pytest.mark.parametrize(
    ("data", "location"),
    [
        (arrays(MAX_INPUTS + 1, 1), ["data", "inputs"]),
        (arrays(1, MAX_OUTPUTS + 1), ["data", "targets"]),
        ({"series": series(MAX_INPUTS + 1), "window": 4}, ["data", "series"]),
        (
            {"series": series(3), "window": 4, "target_columns": [0, 1, 2]},
            ["data", "target_columns"],
        ),
    ],
    ids=["inputs", "targets", "series", "target-columns"],
)
async def test_sizes_past_the_bounds_are_413_at_the_data(
    client: httpx.AsyncClient, services: Services, data: dict[str, Any], location: list[str]
) -> None:
    body = {"data": data, "model": {"hidden_size": 2}, "training": {"epochs": 1}}
    error = await refused(client, services, body)
    assert error["code"] == "payload_too_large" and error["location"] == location
    assert "this server trains models of at most" in error["message"]


async def test_a_data_set_too_wide_is_413_at_its_id(
    client: httpx.AsyncClient, services: Services
) -> None:
    # A CSV data set has at most MAX_INPUTS columns from its upload on; an .npz one may be
    # wider, and the job then points at the data set it named.
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(v) for name, v in arrays(MAX_INPUTS + 1, 1).items()})
    headers = {"content-type": "application/x-npz", "authorization": f"Bearer {TOKEN}"}
    upload = await client.post("/v1/datasets", content=buffer.getvalue(), headers=headers)
    assert upload.status_code == 201, upload.text
    data = {"dataset_id": upload.json()["id"]}
    error = await refused(client, services, {"data": data, "model": {"hidden_size": 2}})
    assert error["location"] == ["data", "dataset_id"]


async def test_too_many_parameters_is_413_at_hidden_size(
    client: httpx.AsyncClient, services: Services
) -> None:
    big = {"hidden_size": 16, "num_layers": 2}
    count = LSTMConfig(1, 16, 2, 1).parameter_count
    error = await refused(client, services, {"data": {"series": SINE, "window": 4}, "model": big})
    assert error["location"] == ["model", "hidden_size"]
    assert error["message"] == (
        f"the model has {count} parameters (input_size 1, hidden_size 16, num_layers 2, "
        f"output_size 1); this server trains models of at most {MAX_PARAMETERS}: make "
        "hidden_size or num_layers smaller"
    )
    small = {"data": {"series": SINE, "window": 4}, "model": {"hidden_size": 4}}
    assert LSTMConfig(1, 4, 1, 1).parameter_count <= MAX_PARAMETERS
    assert (await submit_async(client, {**small, "training": {"epochs": 1}}))["state"] == "queued"


async def test_fine_tuning_a_version_past_the_bounds_is_413_at_init_from(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert SMALL_CONFIG.parameter_count > MAX_PARAMETERS  # version 1, the server's model
    data = arrays(SMALL_CONFIG.input_size, SMALL_CONFIG.output_size)
    error = await refused(client, services, {"data": data, "init_from": "1"})
    assert error["location"] == ["init_from"]
    assert error["message"].startswith(
        f"version 1's model has {SMALL_CONFIG.parameter_count} parameters"
    )
