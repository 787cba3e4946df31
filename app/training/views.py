"""Jobs as the API shows them: stored records plus what is derived at read time (elapsed time,
the estimate of the time left, a pending activation), and the server-sent event stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import anyio.to_thread

from app.core.clock import now
from app.core.errors import Overloaded
from app.protocol.v1.schemas import ActivationInfo, JobDetail, JobProgress, JobSummary
from app.training.store import Job, JobStore

POLL_S = 0.25  # how often a stream looks at the job: one cheap query
KEEPALIVE_S = 15.0  # a comment line now and then keeps proxies from closing a quiet stream


def job_summary(job: Job) -> JobSummary:
    return JobSummary(
        id=job.id,
        state=job.state,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        elapsed_s=_elapsed(job),
        progress=_progress(job),
        model_version=job.model_version,
        error=job.error,  # type: ignore[arg-type]  # validated from its dict
        cancel_requested=job.cancel_requested,
        owner=job.owner,
        activation=_activation(job),
        resume_epoch=job.resume_epoch,
        resumes=job.resumes or [],  # type: ignore[arg-type]  # validated from its dicts
        request=job.spec,
        data=job.data,
        result=job.result,
    )


def job_detail(job: Job, history: list[dict[str, Any]]) -> JobDetail:
    return JobDetail(**job_summary(job).model_dump(), history=history)  # type: ignore[arg-type]


def settled(job: Job) -> bool:
    """Finished, and for a succeeded job its activation policy applied: nothing will change."""
    return job.finished and not (job.state == "succeeded" and job.activation is None)


def _elapsed(job: Job) -> float | None:
    if job.started_at is None:
        return None
    end = datetime.fromisoformat(job.finished_at) if job.finished_at else now()
    return round((end - datetime.fromisoformat(job.started_at)).total_seconds(), 3)


def _progress(job: Job) -> JobProgress | None:
    if job.progress is None:
        return None
    progress = JobProgress(**job.progress)
    if job.state == "running" and progress.epoch > 0:
        left = progress.epochs - progress.epoch
        progress.eta_s = round(progress.elapsed_s / progress.epoch * left, 3)
    return progress


def _activation(job: Job) -> ActivationInfo | None:
    if job.state != "succeeded":
        return None
    if job.activation is None:
        return ActivationInfo(policy=job.spec["activate"], state="pending")
    return ActivationInfo(**job.activation)


class StreamSlots:
    """A cap on open event streams: each polls the database, so their number is bounded.
    Used from the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> Callable[[], None]:
        """One more stream, or Overloaded (503) when `limit` are open; returns its release,
        which may be called more than once (the stream's end and the response's background
        both call it: a client that leaves before the stream starts ends only the latter)."""
        if self.open >= self.limit:
            raise Overloaded(f"{self.open} event streams are open; poll GET /v1/train/{{id}}")
        self.open += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open -= 1

        return release


async def job_events(
    job_id: str, jobs: JobStore, stopping: Callable[[], bool], release: Callable[[], None]
) -> AsyncIterator[str]:
    """`event: progress` with the job (as in GET /v1/train/{id}, without the history) each time
    it changes: a new epoch, a new state, a cancel request; changes within one poll interval
    come as one event. Then `event: done` with the job and its full history, and the end.
    Holds a stream slot (taken by the caller) until the stream ends or its client leaves."""
    try:
        async for event in _events(job_id, jobs, stopping):
            yield event
    finally:
        release()


async def _events(job_id: str, jobs: JobStore, stopping: Callable[[], bool]) -> AsyncIterator[str]:
    seen, beat = -1, time.monotonic()
    while not stopping():
        revision = await anyio.to_thread.run_sync(jobs.revision, job_id)
        if revision is not None and revision != seen:
            seen, beat = revision, time.monotonic()
            job = await anyio.to_thread.run_sync(jobs.get, job_id)
            if job is None:
                return
            if settled(job):
                history = await anyio.to_thread.run_sync(jobs.history, job_id)
                yield _event("done", job_detail(job, history).model_dump())
                return
            yield _event("progress", job_summary(job).model_dump())
        elif time.monotonic() - beat > KEEPALIVE_S:
            beat = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
