"""Data-parallel jobs on a real server (`"training": {"processes": 2}`): the job's worker is a
torchrun group of two ranks. It trains to the model of one process; a rank killed with SIGKILL
ends the whole group at once and, with resume on, the job goes on from its last epoch in a new
group; a cancel ends every rank."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bad_requests import AUTH, TOKEN
from tests.support.jobs import SINE, is_training, submit, wait_for
from tests.support.processes import alive, children, command_line, wait_until_gone
from tests.support.servers import clean_env, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB: dict[str, Any] = {
    "data": {"series": SINE, "window": 8},
    "model": {"hidden_size": 8},
    "training": {"epochs": 12, "batch_size": 4, "learning_rate": 0.01, "seed": 3,
                 "early_stopping_patience": None},
    "activate": "never",
}  # fmt: skip
GROUP_JOB = {**JOB, "training": {**JOB["training"], "processes": 2}}
WINDOW = {"inputs": [[[v] for v in SINE[-8:]]]}
GROUP_ENDS_WITHIN_S = 20.0  # the launcher looks at its ranks every 0.2 s; then it stops the rest


def _rank(pid: int) -> int:
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [rank] = [entry.split(b"=", 1)[1] for entry in environment if entry.startswith(b"RANK=")]
    return int(rank)


def _group(server_pid: int) -> tuple[int, dict[int, int]]:
    """The server's group launcher and its ranks' pids by rank."""
    [launcher] = children(server_pid)
    assert "app.training.group" in command_line(launcher)
    ranks = {_rank(pid): pid for pid in children(launcher)}
    assert sorted(ranks) == [0, 1]
    return launcher, ranks


def _prediction(client: httpx.Client, version: str) -> list[list[float]]:
    answer = client.post("/v1/predict", json={**WINDOW, "model_version": version})
    assert answer.status_code == 200, answer.text
    predictions: list[list[float]] = answer.json()["predictions"]
    return predictions


def test_a_killed_rank_ends_the_group_and_the_job_goes_on_from_its_last_epoch(
    tmp_path: Path, checkpoint: Path
) -> None:
    env = clean_env(api_token=TOKEN)
    server = running_server(tmp_path / "var", "--model", str(checkpoint), env=env)
    with server as running, running.client() as client:
        job = submit(client, GROUP_JOB)
        wait_for(client, job["id"], lambda job: (job["resume_epoch"] or 0) >= 2)
        launcher, ranks = _group(running.process.pid)
        killed_at = time.monotonic()
        os.kill(ranks[1], signal.SIGKILL)
        for pid in (launcher, ranks[0]):
            wait_until_gone(pid, timeout=GROUP_ENDS_WITHIN_S)
        assert time.monotonic() - killed_at < GROUP_ENDS_WITHIN_S
        resumed = wait_for(client, job["id"], lambda job: job["state"] == "succeeded")
        [resume] = resumed["resumes"]
        assert "killed by SIGKILL" in resume["why"] and resume["after_epoch"] >= 2
        assert [e["epoch"] for e in client.get(f"/v1/train/{job['id']}").json()["history"]] == list(
            range(1, 13)
        )
        alone = wait_for(client, submit(client, JOB)["id"])
        group_answer = _prediction(client, resumed["model_version"])
        alone_answer = _prediction(client, alone["model_version"])
        assert group_answer[0][0] == pytest.approx(alone_answer[0][0], abs=1e-4)


def test_cancel_ends_every_rank_of_the_group(tmp_path: Path, checkpoint: Path) -> None:
    env = clean_env(api_token=TOKEN)
    server = running_server(tmp_path / "var", "--model", str(checkpoint), env=env)
    long_job = {**GROUP_JOB, "training": {**GROUP_JOB["training"], "epochs": 500}}
    with server as running, running.client() as client:
        job = submit(client, long_job)
        wait_for(client, job["id"], is_training)
        launcher, ranks = _group(running.process.pid)
        assert client.post(f"/v1/train/{job['id']}/cancel", headers=AUTH).status_code == 202
        cancelled = wait_for(client, job["id"])
        assert cancelled["state"] == "cancelled"
        for pid in (launcher, *ranks.values()):
            wait_until_gone(pid)
        assert not any(alive(pid) for pid in ranks.values())
