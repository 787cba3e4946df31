"""The model call runs off the event loop, at most `concurrency` at a time."""

from __future__ import annotations

import threading
import time

import anyio
import numpy as np
import pytest

from app.arrays import Batch
from app.runner import ModelRunner
from model.inference import Predictor, RawOutput
from tests.conftest import make_checkpoint

pytestmark = pytest.mark.anyio


class SlowPredictor(Predictor):
    """Zeros after a blocking pause, recording which threads ran it and how many at once."""

    def __init__(self, pause_s: float) -> None:
        super().__init__(make_checkpoint())
        self.pause_s = pause_s
        self.threads: set[int] = set()
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None,
        return_steps: bool,
    ) -> RawOutput:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.pause_s)  # blocks its thread, as a real forward pass does
        with self._lock:
            self.running -= 1
        batch, layers, hidden = x.shape[0], self.config.num_layers, self.config.hidden_size
        return RawOutput(
            np.zeros((batch, self.config.output_size), np.float32),
            np.zeros((layers, batch, hidden), np.float32),
            np.zeros((layers, batch, hidden), np.float32),
            None,
        )


BATCH = Batch(np.zeros((1, 2, 3), np.float32), np.array([2]), None, False)


async def test_event_loop_keeps_running_during_a_model_call() -> None:
    predictor, ticks = SlowPredictor(pause_s=0.3), 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        prediction = await ModelRunner(concurrency=1).predict(predictor, BATCH)
        group.cancel_scope.cancel()
    assert ticks >= 10
    assert threading.get_ident() not in predictor.threads
    assert prediction.predictions.shape == (1, 2)


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_concurrency_limit(concurrency: int) -> None:
    predictor, runner = SlowPredictor(pause_s=0.05), ModelRunner(concurrency)
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(runner.predict, predictor, BATCH)
    assert predictor.most_at_once == concurrency
