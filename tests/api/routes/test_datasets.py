"""Keeping data sets: quotas by count and by bytes that concurrent uploads cannot pass, delete
(files and quota freed, jobs already submitted unharmed), a full disk (507, nothing left
behind), a CSV's bounds (413), and .npy series: refused where they are bad, trained on from
disk."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import numpy as np
import pytest

from app.core.settings import Settings
from app.serving.services import Services
from tests.support.bad_requests import AUTH, TOKEN
from tests.support.disks import small_disk
from tests.support.inprocess import InlineLauncher
from tests.support.jobs import SINE, submit_async, wait_for_async

pytestmark = pytest.mark.anyio

CSV = {"content-type": "text/csv", "authorization": f"Bearer {TOKEN}"}
MANAGEMENT = {"authorization": f"Bearer {TOKEN}"}
QUOTA_BYTES = 40_000
MAX_COLUMNS = 16
MAX_VALUES = 1000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_datasets": 2,
            "max_datasets_bytes": QUOTA_BYTES,
            "max_model_input_size": MAX_COLUMNS,
            "max_training_values": MAX_VALUES,
        }
    )


def csv_file(size: int) -> bytes:
    """A CSV of `size` bytes or a little less: 100 rows of two numbers and a text column that
    pads them."""
    pad = max(size // 100 - 9, 1)
    rows = "".join(f"{'n' * pad},{i:03d},{i % 7}\n" for i in range(100))
    return f"note,a,b\n{rows}".encode()


async def upload(client: httpx.AsyncClient, content: bytes) -> dict[str, Any]:
    response = await client.post("/v1/datasets", content=content, headers=CSV)
    assert response.status_code == 201, response.text
    dataset: dict[str, Any] = response.json()
    return dataset


def stored_directories(services: Services) -> list[str]:
    root = services.datasets.data_dir / "datasets"
    return sorted(path.name for path in root.iterdir()) if root.is_dir() else []


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_the_count_quota_holds_until_a_data_set_is_deleted(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await upload(client, csv_file(1000))
    second = await upload(client, csv_file(1000))
    refused = await client.post("/v1/datasets", content=csv_file(1000), headers=CSV)
    assert error(refused, 409)["code"] == "dataset_quota_exceeded"
    assert "2 data sets are stored" in refused.json()["error"]["message"]
    assert stored_directories(services) == sorted([first["id"], second["id"]])

    deleted = await client.delete(f"/v1/datasets/{first['id']}", headers=MANAGEMENT)
    assert deleted.status_code == 204 and deleted.content == b""
    assert error(await client.get(f"/v1/datasets/{first['id']}"), 404)["code"] == (
        "unknown_dataset"
    )
    again = await client.delete(f"/v1/datasets/{first['id']}", headers=MANAGEMENT)
    assert error(again, 404)["location"] == ["dataset_id"]
    assert stored_directories(services) == [second["id"]]  # the file went with the row
    third = await upload(client, csv_file(1000))  # its place is free again
    listed = (await client.get("/v1/datasets")).json()["datasets"]
    assert [d["id"] for d in listed] == [third["id"], second["id"]]


async def test_the_bytes_quota_counts_every_data_set(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await upload(client, csv_file(25_000))
    refused = await client.post("/v1/datasets", content=csv_file(20_000), headers=CSV)
    body = error(refused, 409)
    assert body["code"] == "dataset_quota_exceeded" and body["location"] == ["body"]
    assert f"quota of {QUOTA_BYTES}" in body["message"]
    small = await upload(client, csv_file(QUOTA_BYTES - first["bytes"]))  # fits exactly
    assert first["bytes"] + small["bytes"] <= QUOTA_BYTES
    assert stored_directories(services) == sorted([first["id"], small["id"]])


async def test_concurrent_uploads_never_pass_the_quota(
    client: httpx.AsyncClient, services: Services
) -> None:
    # Each upload checks the quota again in the transaction that inserts it, under the write
    # lock; the losers' files are removed.
    uploads = [client.post("/v1/datasets", content=csv_file(1000), headers=CSV) for _ in range(6)]
    answers = await asyncio.gather(*uploads)
    assert sorted(answer.status_code for answer in answers) == [201, 201, 409, 409, 409, 409]
    kept = sorted(answer.json()["id"] for answer in answers if answer.status_code == 201)
    assert sorted(dataset.id for dataset in services.datasets.all()) == kept
    assert stored_directories(services) == kept


async def test_delete_needs_the_management_token(client: httpx.AsyncClient) -> None:
    dataset = await upload(client, csv_file(1000))
    url = f"/v1/datasets/{dataset['id']}"
    assert error(await client.delete(url), 401)["code"] == "unauthorized"
    wrong = {"authorization": "Bearer not-the-token-at-all-0000"}
    assert error(await client.delete(url, headers=wrong), 403)["code"] == "forbidden"
    assert (await client.get(url)).status_code == 200
    assert error(await client.delete("/v1/datasets/NOT-AN-ID", headers=MANAGEMENT), 422)


async def test_a_job_planned_from_a_deleted_data_set_still_trains(
    client: httpx.AsyncClient, launcher: InlineLauncher
) -> None:
    rows = "".join(f"{v},{2 * v}\n" for v in SINE[:60])
    dataset = await upload(client, f"a,b\n{rows}".encode())
    body = {"data": {"dataset_id": dataset["id"], "window": 6}, "training": {"epochs": 1}}
    launcher.gate.clear()  # the job stays queued
    job = await submit_async(client, body)
    deleted = await client.delete(f"/v1/datasets/{dataset['id']}", headers=MANAGEMENT)
    assert deleted.status_code == 204
    launcher.gate.set()
    # The job trains on the copy of its windows that it took when it was submitted.
    assert (await wait_for_async(client, job["id"]))["state"] == "succeeded"
    refused = await client.post("/v1/train", json=body, headers=AUTH)
    assert error(refused, 404)["location"] == ["data", "dataset_id"]


@pytest.mark.parametrize("inject", [False, True], ids=["tmpfs", "injected"])
async def test_a_full_disk_is_507_and_leaves_nothing_behind(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    inject: bool,
) -> None:
    root = settings.data_dir / "datasets"
    with small_disk(root, monkeypatch, inject) as disk:
        disk.fill()
        refused = await client.post("/v1/datasets", content=csv_file(20_000), headers=CSV)
        body = error(refused, 507)
        assert body["code"] == "insufficient_storage" and "not stored" in body["message"]
        assert list(root.iterdir()) == []  # no directory, no temporary file
        assert services.datasets.all() == []
        disk.free()
        stored = await upload(client, csv_file(20_000))
        assert stored_directories(services) == [stored["id"]]


async def test_a_csv_past_its_columns_or_numbers_is_413_and_not_stored(
    client: httpx.AsyncClient, services: Services
) -> None:
    wide = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n"
    refused = await client.post("/v1/datasets", content=wide.encode(), headers=CSV)
    body = error(refused, 413)
    assert body["code"] == "payload_too_large" and body["location"] == ["body", "series"]
    assert f"more than {MAX_COLUMNS} columns" in body["message"]
    rows = MAX_VALUES // 2 + 1  # two numbers a row
    long = "x,y\n" + "".join(f"{i},{i}\n" for i in range(rows))
    refused = await client.post("/v1/datasets", content=long.encode(), headers=CSV)
    body = error(refused, 413)
    assert body["location"] == ["body", "series", rows - 1]
    assert body["message"].startswith(f"the upload: row {rows - 1} (line {rows + 1})")
    assert services.datasets.all() == [] and stored_directories(services) == []


NPY = {"content-type": "application/x-npy", "authorization": f"Bearer {TOKEN}"}


def npy_file(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


SERIES = np.stack([np.asarray(SINE), np.asarray(SINE) * 2], axis=1)  # (120, 2) float64
_NAN = SERIES.copy()
_NAN[70, 1] = np.nan


@pytest.mark.parametrize(
    ("content", "status", "location", "message"),
    [
        (npy_file(_NAN), 422, ["body", "series", 70, 1], "series[70, 1] is nan"),
        (npy_file(np.zeros((4, 3, 2))), 422, ["body", "series"], "(rows,) or (rows, F)"),
        (npy_file(np.zeros((10, MAX_COLUMNS + 1))), 413, ["body", "series"], "17 columns"),
        (npy_file(SERIES)[:-3], 400, ["body"], "needs"),
        (b"not an array", 400, ["body"], "not an .npy array"),
        (npy_file(np.asfortranarray(SERIES)), 400, ["body"], "Fortran order"),
    ],
    ids=["nan", "three-dimensions", "too-wide", "truncated", "no-array", "fortran-order"],
)
async def test_a_bad_npy_series_is_refused_where_it_is_bad_and_not_stored(
    client: httpx.AsyncClient,
    services: Services,
    content: bytes,
    status: int,
    location: list[str | int],
    message: str,
) -> None:
    body = error(await client.post("/v1/datasets", content=content, headers=NPY), status)
    assert body["location"] == location and message in body["message"]
    assert "/" not in body["message"]  # no server path
    assert services.datasets.all() == [] and stored_directories(services) == []


async def test_a_job_trains_on_an_npy_series_from_disk(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Its target columns are indices; its windows are not bounded by MAX_TRAINING_VALUES
    (they stay on disk): 112 windows of 8 steps of 2 numbers are past it."""
    stored = await client.post("/v1/datasets", content=npy_file(SERIES), headers=NPY)
    assert stored.status_code == 201, stored.text
    dataset = stored.json()
    assert dataset["format"] == "npy"
    assert dataset["summary"] == {"rows": 120, "features": 2, "dtype": "float64"}
    data = {"dataset_id": dataset["id"], "window": 8, "target_columns": [1]}
    wrongs = [({"target_columns": ["b"]}, "target_columns"), ({"columns": ["a"]}, "columns"),
              ({"window": None}, "window")]  # fmt: skip
    for wrong, location in wrongs:
        body = {"data": {**data, **wrong}, "training": {"epochs": 1}}
        refused = await client.post("/v1/train", json=body, headers=AUTH)
        assert error(refused, 422)["location"] == ["data", location]
    job = await submit_async(client, {"data": data, "training": {"epochs": 2}})
    done = await wait_for_async(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["data"]["n"] == 112 and done["request"]["windows"] == {
        "window": 8, "horizon": 1, "per_step": False, "target_columns": [1]}  # fmt: skip
    linked = services.jobs.jobs.job_dir(job["id"]) / "data.npy"
    assert linked.stat().st_ino == services.datasets.get(dataset["id"]).path.stat().st_ino
