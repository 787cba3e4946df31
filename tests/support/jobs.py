"""Training jobs in tests, in-process (httpx.AsyncClient on the ASGI app) and on a real server
(httpx.Client): the job bodies, submitting one, and waiting for it to settle. The checks are
written once; `submit`/`wait_for` and their `_async` twins differ only in how they wait."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.bad_requests import AUTH

# A learnable task: the next value of a sine wave from the 8 before it.
SINE = [round(math.sin(0.3 * i), 6) for i in range(120)]
SMALL_JOB: dict[str, Any] = {
    "data": {"series": SINE, "window": 8},
    "model": {"hidden_size": 8},
    "training": {"epochs": 15, "learning_rate": 0.02, "batch_size": 16},
}
# Runs until it is cancelled or interrupted: tiny batches, no early stopping.
LONG_JOB: dict[str, Any] = {
    **SMALL_JOB,
    "training": {"epochs": 200, "batch_size": 4, "early_stopping_patience": None},
}
WORSE_JOB: dict[str, Any] = {
    **SMALL_JOB,
    "training": {"epochs": 1, "learning_rate": 1e-4},
    "activate": "if_better",
}


def settled(job: dict[str, Any]) -> bool:
    """Nothing will change any more: finished, and a success's activation policy applied."""
    if job["state"] in ("queued", "running"):
        return False
    return job["state"] != "succeeded" or job["activation"]["state"] != "pending"


def is_training(job: dict[str, Any]) -> bool:
    return job["state"] == "running" and job["progress"] is not None


JOB_TIMEOUT_S = 90.0  # a worker's start (python + torch) is seconds on a slow CI machine
Done = Callable[[dict[str, Any]], bool]


def _accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/train/{job['id']}"
    return job


def _job(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def _check_deadline(job: dict[str, Any], deadline: float) -> None:
    assert time.monotonic() < deadline, f"job still {job['state']}: {job}"


def submit(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    return _accepted(client.post("/v1/train", json=body, headers=AUTH))


async def submit_async(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    return _accepted(await client.post("/v1/train", json=body, headers=AUTH))


async def get_job_async(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    return _job(await client.get(f"/v1/train/{job_id}"))


def wait_for(
    client: httpx.Client, job_id: str, done: Done = settled, timeout: float = JOB_TIMEOUT_S
) -> dict[str, Any]:
    """Poll until `done(job)`; the job then."""
    deadline = time.monotonic() + timeout
    while not done(job := _job(client.get(f"/v1/train/{job_id}"))):
        _check_deadline(job, deadline)
        time.sleep(0.05)
    return job


async def wait_for_async(
    client: httpx.AsyncClient, job_id: str, done: Done = settled, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll until `done(job)`; the job then."""
    deadline = time.monotonic() + timeout
    while not done(job := await get_job_async(client, job_id)):
        _check_deadline(job, deadline)
        await asyncio.sleep(0.02)
    return job


def dead_owner() -> str:
    """A job owner ("host:pid") on this host whose process has exited: a crashed server."""
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def made_long_ago(path: Path) -> None:
    """Back-date `path` by a day: old enough to be a crash's leftover, not a write in progress."""
    day_ago = time.time() - 86_400
    os.utime(path, (day_ago, day_ago))
