"""Helpers for the in-process training-job tests: start a job, wait for it to settle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.bad_requests import AUTH
from tests.training_jobs import settled


async def submit(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/train", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/train/{job['id']}"
    return job


async def get_job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/train/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_for(
    client: httpx.AsyncClient, job_id: str, done: Any = settled, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll until `done(job)`; the job then."""
    deadline = time.monotonic() + timeout
    while True:
        job = await get_job(client, job_id)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job still {job['state']}: {job}"
        await asyncio.sleep(0.02)
