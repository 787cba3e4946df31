"""Data sets: upload an .npz or a CSV, validated before it is stored; train on it by id."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest

from app.serving.services import Services
from tests.support import npy_files as files
from tests.support.bad_requests import AUTH, TOKEN
from tests.support.jobs import SINE, submit_async, wait_for_async

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(3)
NPZ = {"content-type": "application/x-npz", "authorization": f"Bearer {TOKEN}"}
CSV = {"content-type": "text/csv", "authorization": f"Bearer {TOKEN}"}


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


async def upload(client: httpx.AsyncClient, content: bytes, headers: dict[str, str]) -> Any:
    response = await client.post("/v1/datasets", content=content, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/datasets/{response.json()['id']}"
    return response.json()


async def test_npz_upload_then_training_on_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    content = npz(inputs=RNG.normal(size=(30, 4, 3)), targets=RNG.normal(size=(30,)))
    dataset = await upload(client, content, NPZ)
    assert dataset["format"] == "npz" and dataset["bytes"] == len(content)
    assert dataset["summary"] == {"n": 30, "steps": 4, "input_size": 3, "output_size": 1,
                                  "per_step": False}  # fmt: skip
    assert (await client.get(f"/v1/datasets/{dataset['id']}")).json() == dataset
    assert (await client.get("/v1/datasets")).json()["datasets"] == [dataset]
    body = {"data": {"dataset_id": dataset["id"]}, "training": {"epochs": 1}}
    job = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert job["state"] == "succeeded"
    assert job["data"]["source"] == f"data set {dataset['id']}"
    refused = await client.post(
        "/v1/train", json={"data": {"dataset_id": dataset["id"], "window": 3}}, headers=AUTH
    )
    assert refused.status_code == 422 and refused.json()["error"]["location"] == ["data", "window"]


async def test_csv_upload_then_training_on_chosen_columns(client: httpx.AsyncClient) -> None:
    rows = "".join(f"2024-01-{i % 28 + 1:02d},{v},{2 * v}\n" for i, v in enumerate(SINE[:60]))
    dataset = await upload(client, f"day,a,b\n{rows}".encode(), CSV)
    assert dataset["summary"] == {"rows": 60, "columns": ["a", "b"]}  # the date is not numeric
    data = {"dataset_id": dataset["id"], "window": 6, "columns": ["a", "b"]}
    data["target_columns"] = ["b"]
    job = await wait_for_async(
        client, (await submit_async(client, {"data": data, "training": {"epochs": 1}}))["id"]
    )
    assert job["state"] == "succeeded" and job["data"]["n"] == 60 - 6
    assert job["request"]["training"]["validation_mode"] == "last"  # windows keep time order
    missing = {**data, "columns": ["a", "nope"]}
    refused = await client.post("/v1/train", json={"data": missing}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["error"]["location"] == ["data", "columns", 1]
    assert "/" not in refused.json()["error"]["message"]  # names the data set, not a path


async def test_compressed_npz_that_would_unpack_too_large_is_refused_unread(
    client: httpx.AsyncClient, services: Services
) -> None:
    content = npz(inputs=np.zeros((2000, 10, 3)), targets=np.zeros((2000, 1)))
    assert len(content) < 32 * 1024  # under the upload limit, 62000 numbers once unpacked
    response = await client.post("/v1/datasets", content=content, headers=NPZ)
    assert response.status_code == 413 and response.json()["error"]["location"] == ["body"]
    assert services.datasets.all() == []
    assert not list((services.datasets.data_dir / "datasets").iterdir())


async def test_invalid_npz_content_is_located_and_not_stored(
    client: httpx.AsyncClient, services: Services
) -> None:
    inputs = RNG.normal(size=(5, 2, 1))
    inputs[3, 1, 0] = np.nan
    response = await client.post(
        "/v1/datasets", content=npz(inputs=inputs, targets=np.zeros(5)), headers=NPZ
    )
    assert response.status_code == 422
    assert response.json()["error"]["location"] == ["body", "inputs", 3, 1, 0]
    missing = await client.post("/v1/datasets", content=npz(inputs=inputs), headers=NPZ)
    assert missing.status_code == 422 and "targets" in missing.json()["error"]["message"]
    assert services.datasets.all() == []


UNREADABLE_UPLOADS = {
    "bzip2": files.npz({"inputs.npy": files.npy(np.zeros((5, 2, 1)))}, zipfile.ZIP_BZIP2),
    "negative-shape": files.npz({"inputs.npy": files.header(shape=(-1, -1, 1))}),
    "void-dtype": files.npz({"inputs.npy": files.header("|V0", (5, 2, 1))}),
    "declared-too-small": files.declaring(npz(inputs=np.zeros((5, 2, 1))), file_size=90),
}


@pytest.mark.parametrize("content", UNREADABLE_UPLOADS.values(), ids=UNREADABLE_UPLOADS.keys())
async def test_an_unreadable_npz_upload_is_400_and_not_stored(
    client: httpx.AsyncClient, services: Services, content: bytes
) -> None:
    response = await client.post("/v1/datasets", content=content, headers=NPZ)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"
    assert response.json()["error"]["location"] == ["body"]
    assert "/" not in response.json()["error"]["message"]  # names the upload, not a path
    assert services.datasets.all() == []


async def test_an_npz_upload_unpacks_into_at_most_the_upload_limit(
    client: httpx.AsyncClient, services: Services
) -> None:
    """4200 numbers are well within max_training_values, but as float64 past the 32 KiB an
    upload may be."""
    content = npz(inputs=np.zeros((2100, 1, 1)), targets=np.zeros(2100))
    response = await client.post("/v1/datasets", content=content, headers=NPZ)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["location"] == ["body"]
    assert services.datasets.all() == []
