"""Training jobs: start one (202 and its `Location`), list them, follow one (state, progress,
history; or as server-sent events; or its loss curves as an image), cancel one."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from app.api.dependencies import (
    DatasetsDep,
    JobsDep,
    ManagementAuth,
    RegistryDep,
    SettingsDep,
    StoppingDep,
    require_json,
)
from app.api.errors import responses
from app.api.openapi import inlined
from app.core.errors import UnknownJob
from app.protocol.v1.schemas import (
    JOB_ID_PATTERN,
    JobDetail,
    JobList,
    JobStateName,
    JobSummary,
    TrainRequest,
)
from app.protocol.validation import validated_json
from app.training.loss_chart import MEDIA_TYPES, ChartFormat, job_loss_chart
from app.training.plan import plan_job
from app.training.runner import JobRunner
from app.training.store import Job
from app.training.views import job_detail, job_events, job_summary

router = APIRouter(prefix="/v1/train", tags=["train"])

JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job's id")]
_TRAIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inlined(TrainRequest.model_json_schema())}},
    }
}
_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`event: progress` per change, then `event: done`; both carry the job",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
# A job's chart changes while it trains, and again when an interrupted job is resumed.
_CHANGING_STATES = frozenset({"queued", "running", "interrupted"})
_SETTLED_CHART_MAX_AGE_S = 86_400


def _chart_responses(fmt: ChartFormat) -> dict[int | str, dict[str, Any]]:
    image = {
        "description": f"The loss chart ({fmt.upper()}); `Cache-Control: no-store` while the "
        "job can still change (queued, running, interrupted)",
        "content": {MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}},
    }
    return {200: image, **responses(404, 422, 503)}


@router.post(
    "",
    status_code=202,
    response_model=JobSummary,
    responses=responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    dependencies=[Depends(require_json)],
    openapi_extra=_TRAIN_BODY,
)
async def start_training(
    http_request: Request,
    _: ManagementAuth,
    jobs: JobsDep,
    registry: RegistryDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Start a training job: the data is checked now, the job queues and runs in a worker."""
    # Read here, after the token check, rather than as a parameter FastAPI would parse first.
    body = await http_request.body()  # up to max_body_bytes of JSON: parsed off the event loop
    request = await anyio.to_thread.run_sync(validated_json, body, TrainRequest)
    await anyio.to_thread.run_sync(jobs.check_room)
    plan = await anyio.to_thread.run_sync(plan_job, request, settings, registry.store, datasets)
    job = await jobs.submit(plan)
    return JSONResponse(
        job_summary(job).model_dump(), status_code=202, headers={"Location": _url(job.id)}
    )


@router.get("", response_model=JobList, responses=responses(422, 503))
async def list_jobs(
    request: Request,
    jobs: JobsDep,
    limit: Annotated[int, Query(ge=1, le=100, description="jobs per page")] = 20,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="page token from `next`")
    ] = None,
    state: Annotated[JobStateName | None, Query(description="only jobs in this state")] = None,
) -> JobList:
    """List training jobs, newest first, a page at a time."""
    page = await anyio.to_thread.run_sync(jobs.jobs.page, limit + 1, before, state)
    following = None
    if len(page) > limit:
        page = page[:limit]
        params = {"limit": limit, "before": page[-1].seq, **({"state": state} if state else {})}
        following = str(request.url.replace_query_params(**params))
    return JobList(jobs=[job_summary(job) for job in page], next=following)


@router.get("/{job_id}", response_model=JobDetail, responses=responses(404, 422, 503))
async def get_job(job_id: JobIdPath, jobs: JobsDep) -> JobDetail:
    """Show a job: state, progress, loss history, resulting version, activation, error."""
    job = await _job(jobs, job_id)
    return job_detail(job, await anyio.to_thread.run_sync(jobs.jobs.history, job_id))


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={**_EVENT_STREAM, **responses(404, 422, 503)},  # 503: too many streams too
)
async def job_event_stream(job_id: JobIdPath, jobs: JobsDep, stopping: StoppingDep) -> Response:
    """Follow a job as server-sent events until it has settled."""
    await _job(jobs, job_id)
    release = jobs.event_streams.take()
    return StreamingResponse(
        job_events(job_id, jobs.jobs, stopping, release),
        background=BackgroundTask(release),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{job_id}/loss.svg", response_class=Response, responses=_chart_responses("svg"))
async def job_loss_svg(job_id: JobIdPath, jobs: JobsDep) -> Response:
    """The job's loss curves as SVG: train and validation MSE per epoch on a log scale, the best
    epoch marked (lines with ids `train-loss`, `val-loss`, `best-epoch`)."""
    return await _loss_chart(jobs, job_id, "svg")


@router.get("/{job_id}/loss.png", response_class=Response, responses=_chart_responses("png"))
async def job_loss_png(job_id: JobIdPath, jobs: JobsDep) -> Response:
    """The job's loss curves as an 800 x 450 PNG: train and validation MSE per epoch on a log
    scale, the best epoch marked."""
    return await _loss_chart(jobs, job_id, "png")


@router.post(
    "/{job_id}/cancel",
    response_model=JobSummary,
    responses={
        202: {"model": JobSummary, "description": "Stopping: the worker stops within one batch"},
        **responses(401, 403, 404, 409, 422, 503),
    },
)
async def cancel_job(job_id: JobIdPath, _: ManagementAuth, jobs: JobsDep) -> JSONResponse:
    """Cancel a job: a queued one at once (200), a running one within one batch (202)."""
    job = await jobs.cancel(job_id)
    if job is None:
        raise UnknownJob(f"no training job {job_id!r}", ("job_id",))
    status = 202 if job.state == "running" else 200
    return JSONResponse(job_summary(job).model_dump(), status_code=status)


@router.post(
    "/{job_id}/resume",
    response_model=JobSummary,
    responses={
        202: {"model": JobSummary, "description": "Queued again, to go on from its last epoch"},
        **responses(401, 403, 404, 409, 422, 503),
    },
    status_code=202,
)
async def resume_job(job_id: JobIdPath, _: ManagementAuth, jobs: JobsDep) -> JSONResponse:
    """Queue an interrupted job again: it keeps its id and goes on from its last resume point
    (from the start when it saved none). 409 for a job in any other state."""
    job = await jobs.resume(job_id)
    if job is None:
        raise UnknownJob(f"no training job {job_id!r}", ("job_id",))
    return JSONResponse(job_summary(job).model_dump(), status_code=202)


async def _job(jobs: JobRunner, job_id: str) -> Job:
    job = await anyio.to_thread.run_sync(jobs.jobs.get, job_id)
    if job is None:
        raise UnknownJob(f"no training job {job_id!r}", ("job_id",))
    return job


async def _loss_chart(jobs: JobRunner, job_id: str, fmt: ChartFormat) -> Response:
    job = await _job(jobs, job_id)
    history = await anyio.to_thread.run_sync(jobs.jobs.history, job_id)
    image = await job_loss_chart(job, history, fmt)
    changing = job.state in _CHANGING_STATES
    cache = "no-store" if changing else f"max-age={_SETTLED_CHART_MAX_AGE_S}"
    return Response(image, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": cache})


def _url(job_id: str) -> str:
    return f"/v1/train/{job_id}"
