"""Cost of a training job's loss chart (app/training/loss_chart.py), in one fresh process: the
first render (it imports matplotlib) and the memory it adds, then the median time of a chart
of --epochs epochs as PNG and SVG, and their sizes.

    python bench/bench_loss_chart.py [--epochs 200] [--runs 10]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  # the server has it loaded already: not the chart's cost

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.training.loss_chart import ChartFormat, render_loss_chart


def memory_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def history(epochs: int) -> list[dict[str, Any]]:
    return [
        {"epoch": e, "train_loss": math.exp(-e / 50) + 0.01, "val_loss": math.exp(-e / 60) + 0.02}
        for e in range(1, epochs + 1)
    ]


def timed(rows: list[dict[str, Any]], fmt: ChartFormat) -> tuple[float, int]:
    started = time.perf_counter()
    image = render_loss_chart(rows, "job 0123abcd: succeeded", len(rows) // 2, fmt)
    return time.perf_counter() - started, len(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    rows = history(args.epochs)
    rss, peak = memory_mib()
    first, _ = timed(rows, "png")
    rss_after, peak_after = memory_mib()
    print(f"first render (PNG, imports matplotlib): {first:.2f} s, "
          f"RSS +{rss_after - rss:.0f} MiB, peak RSS +{peak_after - peak:.0f} MiB")  # fmt: skip
    for fmt in ("png", "svg"):
        runs = [timed(rows, fmt) for _ in range(args.runs)]
        seconds = statistics.median(run[0] for run in runs)
        print(f"{args.epochs} epochs, {fmt.upper()}: {seconds * 1000:.0f} ms, {runs[0][1]} bytes")
    print(f"RSS after {2 * args.runs + 1} renders: +{memory_mib()[0] - rss:.0f} MiB")


if __name__ == "__main__":
    main()
