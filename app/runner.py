"""The model call, off the event loop: the one function that the dynamic batcher will replace."""

from __future__ import annotations

from functools import partial

import anyio
import anyio.to_thread

from app.arrays import Batch
from model.inference import Prediction, Predictor


class ModelRunner:
    def __init__(self, concurrency: int) -> None:
        # Torch already spreads one call over the cores; a few calls at once only add contention.
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def predict(self, predictor: Predictor, batch: Batch) -> Prediction:
        call = partial(predictor.predict, batch.x, batch.lengths, batch.state, batch.return_steps)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)
