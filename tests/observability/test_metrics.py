"""/metrics in process: counters move with requests and are labelled by route template; the
histograms have their buckets; batches, sessions, the active version, training jobs and their
progress are there; two apps in one process keep their own counts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.main import create_app, lifespan
from app.observability.metrics import BATCH_BUCKETS, DELAY_BUCKETS, REQUEST_BUCKETS
from app.serving.batch import Batch
from app.serving.batcher import Batcher, BatchLimits
from app.serving.services import Services
from model.checkpoint import load_checkpoint
from model.torch_predictor import TorchPredictor
from tests.support.bad_requests import AUTH, STEP
from tests.support.inprocess import InlineLauncher
from tests.support.jobs import SMALL_JOB, submit_async, wait_for_async
from tests.support.observability import Samples, parse_metrics, series, value

pytestmark = pytest.mark.anyio

PREDICT = {"route": "/v1/predict", "method": "POST"}


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(response.text)


async def test_request_counters_move_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    for _ in range(3):
        assert (await client.post("/v1/predict", json={"inputs": [[STEP]]})).status_code == 200
    assert (await client.post("/v1/predict", json={"inputs": []})).status_code == 422
    job_ids = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]
    for job_id in job_ids:
        assert (await client.get(f"/v1/train/{job_id}")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404
    after = await scrape(client)

    def moved(**labels: str) -> float:
        name = "lstm_serve_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(**PREDICT, status="200") == 3 and moved(**PREDICT, status="422") == 1
    assert moved(route="/v1/train/{job_id}", method="GET", status="404") == 2
    assert moved(route="unmatched", method="GET", status="404") == 1
    routes = {dict(labels)["route"] for labels in series(after, "lstm_serve_requests_total")}
    assert not any(job_id in route for route in routes for job_id in job_ids)  # no raw paths
    count = "lstm_serve_request_duration_seconds_count"
    assert value(after, count, **PREDICT) - value(before, count, **PREDICT) == 4


async def test_histograms_have_their_buckets(client: httpx.AsyncClient) -> None:
    await client.post("/v1/predict", json={"inputs": [[STEP], [STEP, STEP]]})
    samples = await scrape(client)
    expected = {
        "lstm_serve_request_duration_seconds": (REQUEST_BUCKETS, PREDICT),
        "lstm_serve_batch_sequences": (BATCH_BUCKETS, {}),
        "lstm_serve_batch_queue_delay_seconds": (DELAY_BUCKETS, {}),
    }
    for name, (buckets, labels) in expected.items():
        found = {
            dict(key)["le"]: count
            for key, count in series(samples, f"{name}_bucket").items()
            if set(labels.items()) <= key
        }
        assert set(found) == {*(str(float(b)) for b in buckets), "+Inf"}, name
        assert found["+Inf"] == value(samples, f"{name}_count", **labels) >= 1, name
        counts = [found[str(float(b))] for b in buckets] + [found["+Inf"]]
        assert counts == sorted(counts), name  # cumulative
    assert value(samples, "lstm_serve_batch_sequences_sum") >= 2  # the request's 2 sequences


async def test_concurrent_predictions_share_batches(settings: Settings) -> None:
    """With a 50 ms gathering delay, 8 concurrent calls make fewer passes than calls; each call's
    wait is observed once."""
    app = create_app(settings.model_copy(update={"max_batch_delay_ms": 50.0}))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            calls = [client.post("/v1/predict", json={"inputs": [[STEP]]}) for _ in range(8)]
            assert {r.status_code for r in await asyncio.gather(*calls)} == {200}
            samples = await scrape(client)
    passes = value(samples, "lstm_serve_batch_sequences_count")
    assert value(samples, "lstm_serve_batch_sequences_sum") == 8 and 1 <= passes < 8
    assert value(samples, "lstm_serve_batch_queue_delay_seconds_count") == 8
    assert value(samples, "lstm_serve_batch_queue_delay_seconds_sum") > 0


async def test_sessions_and_the_active_model_version(
    client: httpx.AsyncClient, services: Services, other_checkpoint: Path
) -> None:
    for session_id in ("a", "b"):
        body = {"inputs": [[STEP]], "session_id": session_id}
        assert (await client.post("/v1/predict", json=body)).status_code == 200
    samples = await scrape(client)
    assert value(samples, "lstm_serve_sessions") == 2
    info = series(samples, "lstm_serve_model_info")
    assert info == {frozenset({"name": "lstm", "version": "1", "backend": "torch"}.items()): 1.0}
    services.registry.store.import_file(other_checkpoint, {"kind": "import"})
    response = await client.post("/v1/models/2/activate", headers=AUTH)
    assert response.status_code == 200
    info = series(await scrape(client), "lstm_serve_model_info")
    assert [dict(labels)["version"] for labels in info] == ["2"]  # only the active one


async def test_training_jobs_by_state_and_progress(
    client: httpx.AsyncClient, services: Services, launcher: InlineLauncher
) -> None:
    launcher.gate.clear()  # the job stays running, before its first epoch
    job = await submit_async(client, SMALL_JOB)
    await wait_for_async(client, job["id"], lambda j: j["state"] == "running")
    queued = await submit_async(client, SMALL_JOB)
    samples = await scrape(client)
    jobs = {dict(k)["state"]: v for k, v in series(samples, "lstm_serve_training_jobs").items()}
    assert jobs == {
        "queued": 1, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0, "interrupted": 0
    }  # fmt: skip
    ratio = "lstm_serve_training_progress_ratio"
    assert value(samples, ratio, job_id=job["id"]) == 0
    epoch = {"epoch": 3, "epochs": 12, "train_loss": 0.5, "val_loss": 0.6, "elapsed_s": 0.1}
    services.jobs.jobs.record_epoch(job["id"], epoch)  # as the worker does after an epoch
    assert value(await scrape(client), ratio, job_id=job["id"]) == 0.25
    assert (await client.post(f"/v1/train/{queued['id']}/cancel", headers=AUTH)).status_code == 200
    launcher.gate.set()
    await wait_for_async(client, job["id"])
    samples = await scrape(client)
    assert value(samples, "lstm_serve_training_jobs", state="succeeded") == 1
    assert value(samples, "lstm_serve_training_jobs", state="cancelled") == 1
    assert series(samples, ratio) == {}  # no job runs


async def test_two_apps_in_one_process_keep_their_own_counts(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    other = create_app(settings.model_copy(update={"data_dir": settings.data_dir / "other"}))
    async with lifespan(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as second:
            await second.post("/v1/predict", json={"inputs": [[STEP]]})
            await second.post("/v1/predict", json={"inputs": [[STEP]]})
            mine = await scrape(client)
            theirs = await scrape(second)
    name = "lstm_serve_requests_total"
    assert value(mine, name, **PREDICT, status="200") == 0
    assert value(theirs, name, **PREDICT, status="200") == 2


async def test_batcher_reports_each_pass_and_survives_a_failing_observer(
    small_checkpoint: Path,
) -> None:
    seen: list[tuple[int, list[float]]] = []

    def observe(sequences: int, delays: Sequence[float]) -> None:
        seen.append((sequences, list(delays)))
        if len(seen) == 1:
            raise RuntimeError("a broken observer")

    predictor = TorchPredictor(load_checkpoint(small_checkpoint))
    batcher = Batcher(BatchLimits(0.0, 64, 10_000), on_batch=observe)
    batcher.start()
    for rows in (1, 3):  # the second call is answered: the failure did not end the thread
        x = np.ones((rows, 2, 3), dtype=np.float32)
        prediction = await batcher.predict(predictor, Batch(x, np.full(rows, 2), None, False))
        assert prediction.predictions.shape[0] == rows
    await batcher.close()
    assert [(sequences, len(delays)) for sequences, delays in seen] == [(1, 1), (3, 1)]
    assert all(0 <= delays[0] < 5 for _, delays in seen)
