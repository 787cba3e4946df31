"""A training job's loss curves as an image, PNG or SVG, for reports and chat messages: train and
validation MSE per epoch on a log scale, the best epoch marked, the job's short id and state in
the title.

matplotlib is imported with the first chart, not with the server, and used through its
object-oriented API alone (a `Figure` per chart drawn by an explicit canvas; pyplot's global
figure registry is not thread-safe). Charts render in a worker thread, one at a time: the event
loop never waits for one, and concurrent requests queue rather than each holding a figure in
memory. A chart's cost grows with the history, at most `max_epochs` points per curve."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import anyio.to_thread

from app.training.store import Job

ChartFormat = Literal["png", "svg"]
MEDIA_TYPES: dict[ChartFormat, str] = {"png": "image/png", "svg": "image/svg+xml"}
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 100  # the PNG is 800 x 450 pixels
# (history key, legend label, SVG id of the line)
CURVES = (("train_loss", "train", "train-loss"), ("val_loss", "validation", "val-loss"))
NO_EPOCHS = "no epochs yet"

# Per process, not per app: what it bounds is this process's memory.
_RENDERS = anyio.CapacityLimiter(1)


async def job_loss_chart(job: Job, history: list[dict[str, Any]], fmt: ChartFormat) -> bytes:
    """The job's chart, rendered in a worker thread after any chart already rendering."""
    title = f"job {job.id[:8]}: {job.state}"
    return await anyio.to_thread.run_sync(
        render_loss_chart, history, title, best_epoch(job), fmt, limiter=_RENDERS
    )


def best_epoch(job: Job) -> int | None:
    """The epoch whose weights the job kept (its result's), else the best so far (progress)."""
    for record in (job.result, job.progress):
        if record and record.get("best_epoch"):
            return int(record["best_epoch"])
    return None


def render_loss_chart(
    history: Sequence[dict[str, Any]], title: str, best: int | None, fmt: ChartFormat
) -> bytes:
    """History rows (`epoch`, `train_loss`, `val_loss`; a loss may be None) -> the image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    # Fixed margins, room for the labels: a layout engine that measures them
    # more than doubles the cost.
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.92)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.set_ylabel("MSE (scaled units)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    drawn: set[int] = set()
    for key, label, gid in CURVES:
        points = _points(history, key)
        if not points:
            continue
        epochs, losses = zip(*points, strict=True)
        # A single point draws no line segment: give it a marker.
        (line,) = axes.plot(epochs, losses, label=label, marker="o" if len(points) == 1 else "")
        line.set_gid(gid)
        drawn.update(epochs)
    if drawn:
        axes.set_yscale("log")
        if best in drawn:
            marker = axes.axvline(best, color="grey", linestyle="--", label=f"best epoch {best}")
            marker.set_gid("best-epoch")
        axes.legend()
    else:
        axes.set(xticks=[], yticks=[])  # an empty axis's 0..1 would read as losses
        axes.text(0.5, 0.5, NO_EPOCHS, transform=axes.transAxes, ha="center", va="center")
    canvas = FigureCanvasAgg(figure) if fmt == "png" else FigureCanvasSVG(figure)
    buffer = io.BytesIO()
    canvas.print_figure(buffer, format=fmt)
    return buffer.getvalue()


def _points(history: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(epoch, loss) where the loss can be drawn: stored non-finite losses are None, and a log
    axis has no place for zero."""
    points = []
    for row in history:
        loss = row.get(key)
        if loss is not None and math.isfinite(loss) and loss > 0:
            points.append((int(row["epoch"]), float(loss)))
    return points
