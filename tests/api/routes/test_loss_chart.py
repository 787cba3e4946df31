"""A job's loss chart over HTTP, in process: PNG and SVG of a finished job with a point per
epoch, a chart for a job with no epochs yet, the usual 404 and 422, cache headers by state, the
media types in the OpenAPI document, and rendering off the event loop, one chart at a time."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from typing import Any

import httpx
import pytest
from matplotlib.image import imread

from app.serving.services import Services
from app.training import loss_chart
from app.training.loss_chart import NO_EPOCHS
from tests.support.charts import PNG_SIGNATURE, line_points, svg_root, texts
from tests.support.inprocess import InlineLauncher
from tests.support.jobs import SMALL_JOB, submit_async, wait_for_async

pytestmark = pytest.mark.anyio

UNKNOWN = "0" * 32


def chart_url(job_id: str, fmt: str) -> str:
    return f"/v1/train/{job_id}/loss.{fmt}"


async def test_a_finished_job_has_a_point_per_epoch_in_png_and_svg(
    client: httpx.AsyncClient,
) -> None:
    job = await wait_for_async(client, (await submit_async(client, SMALL_JOB))["id"])
    assert job["state"] == "succeeded"
    epochs = len((await client.get(f"/v1/train/{job['id']}")).json()["history"])
    assert epochs >= 2

    png = await client.get(chart_url(job["id"], "png"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "max-age=86400"  # a succeeded job's chart is final
    assert png.content.startswith(PNG_SIGNATURE)
    assert imread(io.BytesIO(png.content)).shape == (450, 800, 4)

    svg = await client.get(chart_url(job["id"], "svg"))
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = svg_root(svg.content)
    assert line_points(root, "train-loss") == epochs
    assert line_points(root, "val-loss") == epochs
    best = job["result"]["best_epoch"]
    assert line_points(root, "best-epoch") == 2
    assert {f"job {job['id'][:8]}: succeeded".encode(), f"best epoch {best}".encode()} <= texts(
        svg.content
    )


async def test_a_job_with_no_epochs_yet_has_a_chart_that_says_so(
    client: httpx.AsyncClient, launcher: InlineLauncher
) -> None:
    launcher.gate.clear()  # the job stays queued
    job = await submit_async(client, SMALL_JOB)
    svg = await client.get(chart_url(job["id"], "svg"))
    assert svg.status_code == 200 and svg.headers["cache-control"] == "no-store"
    assert line_points(svg_root(svg.content), "train-loss") is None
    assert {NO_EPOCHS.encode(), f"job {job['id'][:8]}: queued".encode()} <= texts(svg.content)
    png = await client.get(chart_url(job["id"], "png"))
    assert png.status_code == 200 and png.headers["cache-control"] == "no-store"
    assert imread(io.BytesIO(png.content)).shape == (450, 800, 4)


@pytest.mark.parametrize("fmt", ["png", "svg"])
async def test_unknown_job_is_404_and_a_malformed_id_422(
    client: httpx.AsyncClient, fmt: str
) -> None:
    unknown = await client.get(chart_url(UNKNOWN, fmt))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_job"
    assert unknown.json()["error"]["location"] == ["job_id"]
    malformed = await client.get(chart_url("not-a-job", fmt))
    assert malformed.status_code == 422
    assert malformed.json()["error"]["location"] == ["job_id"]


async def test_the_document_names_the_image_types(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for fmt, media_type in (("png", "image/png"), ("svg", "image/svg+xml")):
        answer = paths[f"/v1/train/{{job_id}}/loss.{fmt}"]["get"]["responses"]["200"]
        assert set(answer["content"]) == {media_type}


async def test_charts_render_off_the_event_loop_one_at_a_time(
    client: httpx.AsyncClient,
    launcher: InlineLauncher,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several long charts requested at once: /healthz keeps answering, and no two renders
    overlap."""
    launcher.gate.clear()
    job = await submit_async(client, SMALL_JOB)
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 2 / e} for e in range(1, 1001)]
    monkeypatch.setattr(services.jobs.jobs, "history", lambda job_id: rows)
    rendering, most = 0, 0
    lock = threading.Lock()
    render = loss_chart.render_loss_chart

    def counted(*args: Any) -> bytes:
        nonlocal rendering, most
        with lock:
            rendering += 1
            most = max(most, rendering)
        try:
            time.sleep(0.05)  # widen the window in which an overlap would show
            return render(*args)
        finally:
            with lock:
                rendering -= 1

    monkeypatch.setattr(loss_chart, "render_loss_chart", counted)
    charts = asyncio.gather(*(client.get(chart_url(job["id"], fmt)) for fmt in ["png", "svg"] * 3))
    probes: list[float] = []
    while not charts.done():
        started = time.monotonic()
        assert (await client.get("/healthz")).status_code == 200
        probes.append(time.monotonic() - started)
        await asyncio.sleep(0.01)
    assert all(answer.status_code == 200 for answer in await charts)
    assert most == 1
    assert len(probes) > 10 and max(probes) < 0.1, max(probes)
