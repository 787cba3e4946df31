"""Training jobs in process (the real worker code in a thread): a job stores a version with its
provenance and applies its activation policy; failures carry their reason; progress streams as
server-sent events; fine-tuning keeps the base architecture."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from app.core.settings import Settings
from app.main import create_app, lifespan
from app.registry.store import ModelStore
from app.serving.services import Services
from app.training.runner import HEARTBEAT_S, MAX_AUTOMATIC_RESUMES
from app.training.store import Job, JobStore
from app.training.views import StreamSlots, job_events
from model.checkpoint import load_checkpoint
from model.files import sha256_of_file
from tests.support.bad_requests import AUTH
from tests.support.checkpoints import SMALL_CONFIG
from tests.support.jobs import (
    LONG_JOB,
    SINE,
    SMALL_JOB,
    WORSE_JOB,
    is_training,
    submit_async,
    wait_for_async,
)

pytestmark = pytest.mark.anyio


async def test_a_job_stores_a_version_with_provenance_and_activates_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    queued = await submit_async(client, {**SMALL_JOB, "activate": "always"})
    assert queued["state"] == "queued" and queued["request"]["activate"] == "always"
    assert queued["data"] == {
        "n": 112,
        "steps": 8,
        "input_size": 1,
        "output_size": 1,
        "per_step": False,
        "source": "inline series",
    }
    job = await wait_for_async(client, queued["id"])
    assert job["state"] == "succeeded" and job["error"] is None
    assert job["model_version"] == "2"
    result = job["result"]
    assert [e["epoch"] for e in job["history"]] == list(range(1, result["epochs_run"] + 1))
    assert job["progress"]["epoch"] == result["epochs_run"] and job["progress"]["eta_s"] is None
    # Learnt: far below the variance of a sine (0.5), the mean predictor's error.
    assert result["val_mse"] < 0.01
    assert job["activation"] == {
        "policy": "always",
        "state": "activated",
        "reason": "the policy is always",
        "compared_with": None,
        "val_mse": result["val_mse"],
        "active_val_mse": None,
    }
    version = (await client.get("/v1/models/2")).json()
    assert version["active"] and version["source"]["kind"] == "training"
    assert version["source"]["job"] == job["id"] and version["source"]["data"] == job["data"]
    assert version["metrics"]["val_mse"] == result["val_mse"]
    assert version["metadata"]["training"]["params"]["epochs"] == 15
    assert version["sha256"] == sha256_of_file(services.registry.store.checkpoint_path("2"))
    predicted = await client.post("/v1/predict", json={"inputs": [[[v] for v in SINE[-8:]]]})
    assert predicted.json()["model"]["version"] == "2"
    assert abs(predicted.json()["predictions"][0][0] - np.sin(0.3 * 120)) < 0.3


async def test_if_better_keeps_a_worse_model_inactive(client: httpx.AsyncClient) -> None:
    good = await wait_for_async(
        client, (await submit_async(client, {**SMALL_JOB, "activate": "always"}))["id"]
    )
    worse = await wait_for_async(client, (await submit_async(client, WORSE_JOB))["id"])
    activation = worse["activation"]
    assert worse["state"] == "succeeded" and activation["state"] == "not_activated"
    assert activation["compared_with"] == good["model_version"]
    assert activation["val_mse"] > activation["active_val_mse"]
    assert "does not beat" in activation["reason"]
    assert worse["result"]["baseline"]["version"] == good["model_version"]
    assert (await client.get("/v1/models")).json()["active"] == good["model_version"]


async def test_if_better_against_an_active_model_of_other_sizes_does_not_activate(
    client: httpx.AsyncClient,
) -> None:
    """Active: input_size 3; the job's data: 1. Clients of the active model would break."""
    job = await wait_for_async(
        client, (await submit_async(client, {**SMALL_JOB, "activate": "if_better"}))["id"]
    )
    assert job["activation"]["state"] == "not_activated"
    assert "not comparable: it has input_size 3, the data 1" in job["activation"]["reason"]
    assert (await client.get("/v1/models")).json()["active"] == "1"


async def test_fine_tuning_keeps_the_base_architecture_and_scaling(
    client: httpx.AsyncClient, services: Services
) -> None:
    rng = np.random.default_rng(0)
    data = {
        "inputs": rng.normal(size=(40, 4, 3)).tolist(),
        "targets": rng.normal(size=(40, 2)).tolist(),
    }
    body = {"data": data, "init_from": "1", "training": {"epochs": 2}}
    job = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert job["state"] == "succeeded" and job["request"]["init_from"] == "1"
    store = services.registry.store
    base, tuned = (load_checkpoint(store.checkpoint_path(v)) for v in ("1", job["model_version"]))
    assert tuned.config == base.config == SMALL_CONFIG
    np.testing.assert_array_equal(tuned.target_scaler.mean, base.target_scaler.mean)
    assert not np.array_equal(tuned.tensors["fc.weight"], base.tensors["fc.weight"])
    assert job["request"]["training"]["validation_mode"] == "random"  # samples, not windows


async def test_a_job_trains_on_the_device_it_asks_for(client: httpx.AsyncClient) -> None:
    """ "auto" trains (on CUDA when the host has one); "cuda" on a host without CUDA fails,
    saying so; a device the schema does not know is a 422."""
    auto = {**SMALL_JOB, "training": {**SMALL_JOB["training"], "device": "auto"}}
    job = await wait_for_async(client, (await submit_async(client, auto))["id"])
    assert job["state"] == "succeeded" and job["request"]["device"] == "auto"
    if not torch.cuda.is_available():
        cuda = {**SMALL_JOB, "training": {**SMALL_JOB["training"], "device": "cuda"}}
        job = await wait_for_async(client, (await submit_async(client, cuda))["id"])
        assert job["state"] == "failed" and "no CUDA device" in job["error"]["message"]
    tpu = {**SMALL_JOB, "training": {"device": "tpu"}}
    answer = await client.post("/v1/train", json=tpu, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["error"]["location"] == ["training", "device"]


async def test_a_diverging_job_fails_with_its_reason(client: httpx.AsyncClient) -> None:
    body = {**SMALL_JOB, "training": {"epochs": 3, "learning_rate": 1e20, "clip_grad_norm": None}}
    job = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert job["state"] == "failed" and job["model_version"] is None
    assert job["error"]["code"] == "training_failed"
    assert "diverged at epoch" in job["error"]["message"]
    assert len((await client.get("/v1/models")).json()["versions"]) == 1


def _dying(code: str) -> Any:
    async def dying_worker(job: Job, jobs: JobStore, settings: Settings) -> Any:
        return await asyncio.create_subprocess_exec(sys.executable, "-c", code)

    return dying_worker


async def test_a_worker_that_exits_with_an_error_fails_its_job(settings: Settings) -> None:
    app = create_app(settings, launcher=_dying("raise SystemExit(3)"))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            job = await wait_for_async(client, (await submit_async(client, SMALL_JOB))["id"])
    assert job["state"] == "failed" and job["error"]["code"] == "worker_died"
    assert "exited with status 3" in job["error"]["message"]


async def test_a_worker_killed_by_a_signal_is_resumed_then_left_interrupted(
    settings: Settings,
) -> None:
    """Killed (the kernel's OOM killer, kill -9): interrupted and resumed, at most
    MAX_AUTOMATIC_RESUMES times, so a job that always dies does not run for ever."""
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    app = create_app(settings, launcher=_dying(kill))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            job_id = (await submit_async(client, SMALL_JOB))["id"]
            job = await wait_for_async(
                client,
                job_id,
                lambda j: (
                    j["state"] == "interrupted" and len(j["resumes"]) == MAX_AUTOMATIC_RESUMES
                ),
            )
            await asyncio.sleep(2 * HEARTBEAT_S)  # and it stays so
            assert (await client.get(f"/v1/train/{job_id}")).json()["state"] == "interrupted"
    assert "killed by SIGKILL" in job["error"]["message"]
    assert all("killed by SIGKILL" in resume["why"] for resume in job["resumes"])


async def test_a_running_job_is_cancelled_within_a_batch(client: httpx.AsyncClient) -> None:
    job = await submit_async(client, LONG_JOB)
    await wait_for_async(client, job["id"], is_training)
    response = await client.post(f"/v1/train/{job['id']}/cancel", headers=AUTH)
    assert response.status_code == 202 and response.json()["cancel_requested"]
    cancelled = await wait_for_async(client, job["id"], timeout=5.0)
    assert cancelled["state"] == "cancelled" and cancelled["model_version"] is None
    assert 1 <= len(cancelled["history"]) < 200
    assert len((await client.get("/v1/models")).json()["versions"]) == 1
    again = await client.post(f"/v1/train/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


async def test_cancelling_a_finished_job_is_a_conflict(client: httpx.AsyncClient) -> None:
    job = await wait_for_async(
        client, (await submit_async(client, {**SMALL_JOB, "training": {"epochs": 1}}))["id"]
    )
    response = await client.post(f"/v1/train/{job['id']}/cancel", headers=AUTH)
    assert response.status_code == 409 and response.json()["error"]["code"] == "job_conflict"


async def test_events_stream_progress_then_done(client: httpx.AsyncClient) -> None:
    job = await submit_async(client, SMALL_JOB)
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream("GET", f"/v1/train/{job['id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"} and len(names) >= 2
    done = events[-1][1]
    assert done["state"] == "succeeded" and done["activation"]["state"] == "not_activated"
    assert len(done["history"]) == done["result"]["epochs_run"]
    epochs = [data["progress"]["epoch"] for _, data in events[:-1] if data["progress"]]
    assert epochs == sorted(epochs)


async def test_series_with_several_columns_and_targets(client: httpx.AsyncClient) -> None:
    series = [[v, 2 * v, -v] for v in SINE[:40]]
    data = {"series": series, "window": 5, "horizon": 2, "target_columns": [0, 2]}
    body = {"data": data, "training": {"epochs": 1}}
    job = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert job["state"] == "succeeded"
    assert job["request"]["model"]["input_size"] == 3 and job["data"]["output_size"] == 2
    assert job["data"]["n"] == 40 - 5 - 2 + 1


def test_worker_runs_as_its_own_module(tmp_path: Path) -> None:
    """`python -m app.training.worker` for a job that does not exist ends at once, cleanly."""

    command = ["-m", "app.training.worker", str(tmp_path), "f" * 32, "--parent", str(os.getpid())]
    result = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_close_interrupts_a_running_job(
    settings: Settings, launcher: Any, client: httpx.AsyncClient, app: Any
) -> None:
    """Covered in full by the restart tests; here: SIGTERM reaches the worker on shutdown."""
    launcher.gate.clear()
    job = await submit_async(client, SMALL_JOB)
    await wait_for_async(client, job["id"], lambda j: j["state"] == "running")
    await app.state.services.jobs.close()
    assert launcher.workers[job["id"]].signals == [signal.SIGTERM]
    stored = JobStore(settings.data_dir).get(job["id"])
    assert stored is not None and stored.state == "interrupted"
    assert stored.error == {
        "code": "interrupted",
        "message": "the server shut down while the job was running, before its first epoch "
        "finished; resumed, it starts again from epoch 1",
    }


async def test_cancel_before_the_worker_handles_signals_still_cancels(
    settings: Settings,
) -> None:
    """SIGUSR1's default action ends a process that has not set its handler yet: the job is
    cancelled, not failed."""

    async def slow_to_start(job: Job, jobs: JobStore, settings: Settings) -> Any:
        command = [sys.executable, "-c", "input()"]  # waits, with no signal handler
        return await asyncio.create_subprocess_exec(*command, stdin=subprocess.PIPE)

    app = create_app(settings, launcher=slow_to_start)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            job = await submit_async(client, SMALL_JOB)
            await wait_for_async(client, job["id"], lambda j: j["state"] == "running")
            response = await client.post(f"/v1/train/{job['id']}/cancel", headers=AUTH)
            assert response.status_code == 202
            assert (await wait_for_async(client, job["id"]))["state"] == "cancelled"


async def test_max_concurrent_jobs_run_side_by_side(settings: Settings, launcher: Any) -> None:
    launcher.gate.clear()
    app = create_app(settings.model_copy(update={"max_concurrent_jobs": 2}), launcher=launcher)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ids = [(await submit_async(client, SMALL_JOB))["id"] for _ in range(3)]
            for job_id in ids[:2]:
                await wait_for_async(client, job_id, lambda j: j["state"] == "running")
            assert (await client.get(f"/v1/train/{ids[2]}")).json()["state"] == "queued"
            launcher.gate.set()
            assert (await wait_for_async(client, ids[2]))["state"] == "succeeded"


async def test_event_stream_ends_when_the_server_stops(settings: Settings) -> None:
    ModelStore(settings.data_dir)  # the jobs table refers to its versions
    jobs = JobStore(settings.data_dir)
    jobs.create("a" * 32, {}, {}, "0" * 64, room=9)
    stopping = threading.Event()  # as uvicorn's flag, which turns on at SIGTERM
    slots = StreamSlots(limit=1)
    events = []
    async for event in job_events("a" * 32, jobs, stopping.is_set, slots.take()):
        events.append(event)
        stopping.set()
    assert len(events) == 1 and events[0].startswith("event: progress\ndata: {")
    assert slots.open == 0  # the stream's end gave its slot back


async def test_event_streams_are_capped_and_give_their_slot_back(
    client: httpx.AsyncClient, services: Services
) -> None:
    job = await wait_for_async(client, (await submit_async(client, SMALL_JOB))["id"])
    streams = services.jobs.event_streams
    streams.limit = 1
    held = streams.take()  # another client's open stream
    refused = await client.get(f"/v1/train/{job['id']}/events")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    held()
    answered = await client.get(f"/v1/train/{job['id']}/events")
    assert answered.status_code == 200 and answered.text.startswith("event: done")
    assert streams.open == 0  # the finished stream gave its slot back
