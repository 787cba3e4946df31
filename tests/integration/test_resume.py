"""Resumable jobs on a real server: a job whose worker, or whose whole server, is killed with
SIGKILL in the middle goes on from its last resume point, not from epoch 1, and ends with the
model of a run that was never interrupted (one training thread: the same numbers exactly)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bad_requests import AUTH, TOKEN
from tests.support.jobs import SINE, submit, wait_for
from tests.support.processes import children, wait_until_gone
from tests.support.servers import clean_env, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Long enough to be killed in the middle (tiny batches), with no early stop to cut it short.
JOB: dict[str, Any] = {
    "data": {"series": SINE, "window": 8},
    "model": {"hidden_size": 8},
    "training": {"epochs": 16, "batch_size": 2, "learning_rate": 0.01, "seed": 5,
                 "early_stopping_patience": None},
    "activate": "never",
}  # fmt: skip
WINDOW = {"inputs": [[[v] for v in SINE[-8:]]]}
KILL_AFTER_EPOCH = 3


def _epoch(job: dict[str, Any]) -> int:
    return int(job["progress"]["epoch"]) if job["progress"] else 0


def _over(job: dict[str, Any]) -> bool:
    """Done for good: `interrupted` is a stop on the way when resume is on."""
    return job["state"] in ("succeeded", "failed", "cancelled")


def _saved_at_least(epoch: int) -> Any:
    return lambda job: (job["resume_epoch"] or 0) >= epoch


def _same_model(client: httpx.Client, resumed: dict[str, Any], whole: dict[str, Any]) -> None:
    """The resumed job's model is the uninterrupted one's: the same losses, epoch by epoch,
    and the same predictions."""
    assert resumed["state"] == whole["state"] == "succeeded"
    history = [(e["epoch"], e["train_loss"], e["val_loss"]) for e in resumed["history"]]
    assert history == [(e["epoch"], e["train_loss"], e["val_loss"]) for e in whole["history"]]
    answers = [
        client.post("/v1/predict", json={**WINDOW, "model_version": job["model_version"]}).json()
        for job in (resumed, whole)
    ]
    assert answers[0]["predictions"] == answers[1]["predictions"]


def test_kill_9_of_the_worker_resumes_from_its_last_epoch(tmp_path: Path, checkpoint: Path) -> None:
    env = clean_env(api_token=TOKEN)
    server = running_server(tmp_path / "var", "--model", str(checkpoint), env=env)
    with server as running, running.client() as client:
        job = submit(client, JOB)
        at_kill = wait_for(client, job["id"], _saved_at_least(KILL_AFTER_EPOCH))
        [worker] = children(running.process.pid)
        server_kill(worker)
        resumed = wait_for(client, job["id"], _over)
        [resume] = resumed["resumes"]
        assert resume["after_epoch"] >= at_kill["resume_epoch"] >= KILL_AFTER_EPOCH
        assert "killed by SIGKILL" in resume["why"]
        assert resume["after_epoch"] < resumed["request"]["training"]["epochs"]
        resumed = client.get(f"/v1/train/{job['id']}").json()
        whole = wait_for(client, submit(client, JOB)["id"])
        whole = client.get(f"/v1/train/{whole['id']}").json()
        assert whole["resumes"] == []
        _same_model(client, resumed, whole)


def test_kill_9_of_the_server_then_restart_resumes_the_job(
    tmp_path: Path, checkpoint: Path
) -> None:
    data_dir, env = tmp_path / "var", clean_env(api_token=TOKEN)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        with server.client() as client:
            job = submit(client, JOB)
            at_kill = wait_for(client, job["id"], _saved_at_least(KILL_AFTER_EPOCH))
        [worker] = children(server.process.pid)
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait(timeout=10)
        wait_until_gone(worker)  # the kernel ends it with its server
    with running_server(data_dir, env=env) as server, server.client() as client:
        resumed = wait_for(client, job["id"], _over)
        [resume] = resumed["resumes"]
        assert resume["after_epoch"] >= at_kill["resume_epoch"] >= KILL_AFTER_EPOCH
        assert "server process stopped" in resume["why"]
        resumed = client.get(f"/v1/train/{job['id']}").json()
        whole = client.get(f"/v1/train/{wait_for(client, submit(client, JOB)['id'])['id']}").json()
        _same_model(client, resumed, whole)


def test_resume_by_hand_and_only_an_interrupted_job(tmp_path: Path, checkpoint: Path) -> None:
    """With automatic resume off, a killed worker's job stays interrupted until POST /resume;
    a job in any other state answers 409, an unknown one 404."""
    env = clean_env(api_token=TOKEN, resume_interrupted=False)
    server = running_server(tmp_path / "var", "--model", str(checkpoint), env=env)
    with server as running, running.client() as client:
        job = submit(client, JOB)
        wait_for(client, job["id"], _saved_at_least(KILL_AFTER_EPOCH))
        [worker] = children(running.process.pid)
        server_kill(worker)
        interrupted = wait_for(client, job["id"])
        assert interrupted["state"] == "interrupted" and interrupted["resumes"] == []
        assert "goes on from epoch" in interrupted["error"]["message"]
        path = f"/v1/train/{job['id']}/resume"
        assert client.post(path).status_code == 401
        answer = client.post(path, headers=AUTH)
        assert answer.status_code == 202 and answer.json()["state"] == "queued"
        done = wait_for(client, job["id"])
        assert done["state"] == "succeeded"
        assert done["resumes"][0]["after_epoch"] == interrupted["resume_epoch"]
        conflict = client.post(path, headers=AUTH)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "job_conflict"
        assert client.post("/v1/train/" + "0" * 32 + "/resume", headers=AUTH).status_code == 404


def server_kill(pid: int) -> None:
    """SIGKILL to a worker, as the kernel's OOM killer or an operator sends it."""
    os.kill(pid, signal.SIGKILL)
    wait_until_gone(pid)
