"""The queue in process, on a server that runs one job and queues one more: 429 beyond that,
cancelling a queued job at once, the list newest first and paged, and what a restart finds."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.main import create_app, lifespan
from app.protocol.v1.schemas import TrainRequest
from app.registry.store import ModelStore
from app.training.datasets import DatasetStore
from app.training.plan import plan_job
from app.training.runner import SECRET_VARIABLES, worker_environment
from app.training.store import JobStore
from app.training.worker import StopFlags, run_job
from tests.support.bad_requests import AUTH
from tests.support.inprocess import InlineLauncher
from tests.support.jobs import (
    SMALL_JOB,
    dead_owner,
    made_long_ago,
    submit_async,
    wait_for_async,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_concurrent_jobs": 1, "max_queued_jobs": 1})


async def test_full_queue_is_429_and_a_queued_job_cancels_at_once(
    client: httpx.AsyncClient, launcher: InlineLauncher
) -> None:
    launcher.gate.clear()  # the first job holds the only slot
    running = await submit_async(client, SMALL_JOB)
    await wait_for_async(client, running["id"], lambda job: job["state"] == "running")
    queued = await submit_async(client, SMALL_JOB)
    refused = await client.post("/v1/train", json=SMALL_JOB, headers=AUTH)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "queue_full"
    cancelled = await client.post(f"/v1/train/{queued['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert (await submit_async(client, SMALL_JOB))["state"] == "queued"  # room again
    stopping = await client.post(f"/v1/train/{running['id']}/cancel", headers=AUTH)
    assert stopping.status_code == 202
    assert (await wait_for_async(client, running["id"]))["state"] == "cancelled"
    assert queued["id"] not in launcher.workers  # a cancelled queued job never started


async def test_jobs_are_listed_newest_first_a_page_at_a_time(
    client: httpx.AsyncClient, launcher: InlineLauncher
) -> None:
    launcher.gate.clear()
    first = await submit_async(client, SMALL_JOB)
    second = await submit_async(client, SMALL_JOB)
    page = (await client.get("/v1/train", params={"limit": 1})).json()
    assert [job["id"] for job in page["jobs"]] == [second["id"]]
    rest = (await client.get(page["next"])).json()
    assert [job["id"] for job in rest["jobs"]] == [first["id"]] and rest["next"] is None
    queued = (await client.get("/v1/train", params={"state": "queued"})).json()
    assert [job["id"] for job in queued["jobs"]] == [second["id"]]
    assert "history" not in page["jobs"][0]


async def test_restart_interrupts_running_jobs_and_runs_queued_ones(settings: Settings) -> None:
    """SIGTERM interrupts the running job and leaves the queued one queued. A job that a crash
    left `running` is interrupted at the next start and, resume being on, queued again and run
    to its end (it saved no resume point: from the start); queued jobs run; files that no row
    names are removed."""
    held = InlineLauncher()
    held.gate.clear()
    app = create_app(settings, launcher=held)
    async with lifespan(app), _client(app) as client:
        running = await submit_async(client, SMALL_JOB)
        await wait_for_async(client, running["id"], lambda job: job["state"] == "running")
        queued = await submit_async(client, SMALL_JOB)
    jobs = JobStore(settings.data_dir)
    assert _state(jobs, running["id"]) == "interrupted"
    assert _state(jobs, queued["id"]) == "queued"
    # As if a server process died right after starting it.
    crashed = jobs.claim_next(dead_owner(), 60)
    assert crashed is not None and crashed.id == queued["id"]
    later = queue_job(settings, {**SMALL_JOB, "training": {"epochs": 1}})
    orphans = [settings.data_dir / "models" / "9", settings.data_dir / "jobs" / ("e" * 32)]
    for orphan in orphans:
        orphan.mkdir(parents=True)
        (orphan / "half-written").write_bytes(b"x")
        made_long_ago(orphan)
    # Perhaps another server process's write in progress: too young to be an orphan yet.
    young = settings.data_dir / "jobs" / ("f" * 32)
    young.mkdir()
    app = create_app(settings, launcher=InlineLauncher())
    async with lifespan(app), _client(app) as client:
        assert (await wait_for_async(client, later))["state"] == "succeeded"
        resumed = await wait_for_async(client, crashed.id)
    assert resumed["state"] == "succeeded" and resumed["error"] is None
    [resume] = resumed["resumes"]
    assert resume["after_epoch"] == 0
    assert "server process stopped while the job was running" in resume["why"]
    assert not any(orphan.exists() for orphan in orphans) and young.exists()
    assert (settings.data_dir / "jobs" / later / "data.npz").exists()


async def test_start_up_applies_an_activation_that_a_crash_left_pending(
    settings: Settings,
) -> None:
    """The worker stored the version; the server died before applying `activate: always`."""
    models = ModelStore(settings.data_dir)
    assert settings.model is not None
    models.set_active(models.import_file(settings.model, {"kind": "import"}).version)
    job_id = queue_job(settings, {**SMALL_JOB, "activate": "always"})
    jobs = JobStore(settings.data_dir)
    assert jobs.claim_next(dead_owner(), 60) is not None
    assert run_job(settings.data_dir, job_id, None, StopFlags(os.getppid())) == 0
    stored = jobs.get(job_id)
    assert stored is not None and stored.state == "succeeded" and stored.activation is None
    app = create_app(settings.model_copy(update={"model": None}), launcher=InlineLauncher())
    async with lifespan(app), _client(app) as client:
        job = await wait_for_async(client, job_id)
        assert job["activation"]["state"] == "activated" and job["model_version"] == "2"
        assert (await client.get("/v1/models")).json()["active"] == "2"


def test_a_resume_point_written_but_not_recorded_leaves_no_gap_in_the_history(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies between writing its resume point of epoch 4 and recording it: the
    database says epoch 3, the file holds epoch 4. The run goes on from the file, and the job's
    history is an uninterrupted run's, epoch 4 included."""
    body = {**SMALL_JOB, "training": {"epochs": 6, "early_stopping_patience": None, "seed": 3}}
    jobs = JobStore(settings.data_dir)
    whole = queue_job(settings, body)
    jobs.claim_next(dead_owner(), 60)
    assert run_job(settings.data_dir, whole, None, StopFlags(os.getppid())) == 0
    cut, stop = queue_job(settings, body), StopFlags(os.getppid())
    record = JobStore.record_resume_point

    def dies_before_recording_epoch_4(self: JobStore, job_id: str, epoch: int, sha: str) -> bool:
        if epoch < 4:
            return record(self, job_id, epoch, sha)
        stop.shutdown = True  # the process ends here: epoch 4 is in the file alone
        return True

    monkeypatch.setattr(JobStore, "record_resume_point", dies_before_recording_epoch_4)
    jobs.claim_next(dead_owner(), 60)
    assert run_job(settings.data_dir, cut, None, stop) != 0
    monkeypatch.undo()
    running = jobs.get(cut)
    assert running is not None and running.resume_epoch == 3
    assert jobs.interrupt(running, {"code": "interrupted", "message": "killed"})
    interrupted = jobs.get(cut)
    assert interrupted is not None and jobs.requeue(interrupted, "killed")
    assert [epoch["epoch"] for epoch in jobs.history(cut)] == [1, 2, 3]
    jobs.claim_next(dead_owner(), 60)
    assert run_job(settings.data_dir, cut, None, StopFlags(os.getppid())) == 0
    assert _state(jobs, cut) == "succeeded"
    losses = [[(e["epoch"], e["train_loss"], e["val_loss"]) for e in jobs.history(job_id)]
              for job_id in (cut, whole)]  # fmt: skip
    assert [epoch for epoch, _, _ in losses[0]] == [1, 2, 3, 4, 5, 6]
    assert losses[0] == losses[1]


def queue_job(settings: Settings, body: dict[str, Any]) -> str:
    """A job queued as POST /v1/train queues it, without a server."""
    request = TrainRequest.model_validate(body)
    models, datasets = ModelStore(settings.data_dir), DatasetStore(settings.data_dir)
    plan = plan_job(request, settings, models, datasets)
    job_id = uuid.uuid4().hex
    jobs = JobStore(settings.data_dir)
    sha256 = jobs.write_data(job_id, plan.data)
    jobs.create(job_id, plan.spec, plan.data.summary(), sha256, room=99)
    return job_id


def _state(jobs: JobStore, job_id: str) -> str:
    job = jobs.get(job_id)
    assert job is not None
    return job.state


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_a_worker_inherits_no_secret(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("LSTM_SERVE_API_TOKEN", "management-secret-0123456789")
    monkeypatch.setenv("LSTM_SERVE_INFERENCE_TOKENS", '["inference-secret-0123456789"]')
    monkeypatch.setenv("LSTM_SERVE_DATA_DIR", "/srv/lstm")
    env = worker_environment(settings)
    assert not SECRET_VARIABLES & set(env)
    assert env["LSTM_SERVE_DATA_DIR"] == "/srv/lstm"  # everything else passes on
    assert env["OMP_NUM_THREADS"] == str(settings.training_threads)
