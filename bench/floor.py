"""The physical floor: the classic model's torch forward pass alone, per sequence, at batch 1
and batch 256 (10 steps, one torch thread, as the servers' model threads run)."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from classic import INPUT_SIZE, STEPS, load


def microseconds_per_sequence(checkpoint: Path, batch: int, seconds: float = 2.0) -> float:
    torch.set_num_threads(1)
    model = load(str(checkpoint))
    x = torch.randn(batch, STEPS, INPUT_SIZE)
    timings = []
    with torch.inference_mode():
        for _ in range(20):
            model(x)  # warm-up
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            start = time.perf_counter()
            model(x)
            timings.append(time.perf_counter() - start)
    timings.sort()
    return timings[len(timings) // 2] / batch * 1e6
