"""Dynamic batching: concurrent predict calls for the same model version are gathered and run as
one packed forward pass, in dedicated model threads, so the event loop never blocks.

A call waits at most `max_delay_s` after it was queued for others to join it, and a group stops
growing at `max_sequences` sequences or `max_steps` padded steps (sequences x longest one); under
load the queue fills while the model runs, so groups form without any wait. Members are checked
before they queue; should a merged call still fail, or give a prediction that is not finite
(inputs near float32's limits overflow inside the model), each member is re-run alone, so only
the culprit gets the error. Closing stops taking calls and finishes every one already accepted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from app.core.errors import NotReady, Overloaded
from app.core.settings import Settings
from app.registry.models import predictor_class
from app.serving.batch import Batch, merge, split
from app.serving.checked_input import check_finite
from model.inference import Prediction, Predictor

logger = logging.getLogger(__name__)

Outcome = Prediction | Exception
# Told of every group a model thread takes: its sequences, and how long each member waited in
# the queue (seconds). Called from the model thread; app/observability/metrics.py's histograms
# are thread-safe.
BatchObserver = Callable[[int, Sequence[float]], None]


class BatchLimits(NamedTuple):
    max_delay_s: float
    max_sequences: int
    max_steps: int  # sequences x longest sequence of the merged batch


# Batching off: a group is full with its first member, and nobody waits.
ALONE = BatchLimits(max_delay_s=0.0, max_sequences=1, max_steps=1)


@dataclass(eq=False)
class _Job:
    predictor: Predictor
    batch: Batch
    future: asyncio.Future[Prediction]
    loop: asyncio.AbstractEventLoop
    queued_at: float


class _Group:
    """Jobs for one predictor that fit the limits together; the first always fits."""

    def __init__(self, first: _Job, limits: BatchLimits) -> None:
        self.jobs = [first]
        self.limits = limits
        self.sequences: int = first.batch.x.shape[0]
        self.steps: int = first.batch.x.shape[1]

    @property
    def full(self) -> bool:
        return self.sequences >= self.limits.max_sequences

    def may_fill(self, job: _Job) -> bool:
        rows: int = job.batch.x.shape[0]
        return self.sequences + rows >= self.limits.max_sequences

    def add(self, job: _Job) -> bool:
        rows, steps = job.batch.x.shape[:2]
        sequences, longest = self.sequences + rows, max(self.steps, steps)
        if (
            job.predictor is not self.jobs[0].predictor
            or sequences > self.limits.max_sequences
            or sequences * longest > self.limits.max_steps
        ):
            return False
        self.jobs.append(job)
        self.sequences, self.steps = sequences, longest
        return True


class _Queue:
    """The FIFO of accepted jobs, shared by the model threads, bounded in sequences: past
    `max_queued` a call is refused at once (503) rather than waiting behind a backlog that only
    grows."""

    def __init__(self, limits: BatchLimits, max_queued: int) -> None:
        self.limits = limits
        self.max_queued = max_queued
        self._queued = 0  # sequences in _jobs
        self._jobs: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._idle = 0  # model threads waiting for any job
        self._filling: list[_Group] = []  # groups waiting out their delay for more jobs

    def put(self, job: _Job) -> None:
        with self._changed:
            if self._closed:
                raise NotReady("the service is stopping")
            if self._queued + _rows(job) > self.max_queued:
                raise Overloaded(
                    f"{self._queued} sequences are waiting for the model; try again shortly"
                )
            self._jobs.append(job)
            self._queued += _rows(job)
            # Wake model threads only when one has something to do now: an idle one, or one
            # whose group this job may fill. Each wake-up takes the GIL from the event loop.
            if self._idle or any(group.may_fill(job) for group in self._filling):
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take(self) -> list[_Job] | None:
        """The next group: the oldest job and later ones that fit with it, waited for until
        the oldest has been queued `max_delay_s`; None once closed and empty."""
        with self._changed:
            while not self._jobs:
                if self._closed:
                    return None
                self._idle += 1
                self._changed.wait()
                self._idle -= 1
            group = _Group(self._jobs.popleft(), self.limits)
            self._queued -= group.sequences
            deadline = group.jobs[0].queued_at + self.limits.max_delay_s
            while True:
                self._jobs = self._leave_out(group)
                remaining = deadline - time.monotonic()
                if group.full or self._closed or remaining <= 0:
                    return group.jobs
                self._filling.append(group)
                self._changed.wait(remaining)
                self._filling.remove(group)

    def _leave_out(self, group: _Group) -> deque[_Job]:
        """The queued jobs that do not join `group` (other versions, or too big), in order."""
        before = group.sequences
        left = deque(job for job in self._jobs if not group.add(job))
        self._queued -= group.sequences - before
        return left


def _rows(job: _Job) -> int:
    rows: int = job.batch.x.shape[0]
    return rows


class Batcher:
    def __init__(
        self,
        limits: BatchLimits,
        threads: int = 1,
        thread_init: Callable[[], None] = lambda: None,
        on_batch: BatchObserver | None = None,
        max_queued: int = 8192,
    ) -> None:
        """`threads` model threads; each runs `thread_init` first (torch's thread count).
        `max_queued`: sequences that may wait for a model thread at once."""
        self._queue = _Queue(limits, max_queued)
        self._thread_init = thread_init
        self._on_batch = on_batch
        self._threads = [
            threading.Thread(target=self._serve, name=f"model-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    async def predict(self, predictor: Predictor, batch: Batch) -> Prediction:
        """The prediction for `batch` alone, computed with whatever runs beside it."""
        loop = asyncio.get_running_loop()
        job = _Job(predictor, batch, loop.create_future(), loop, time.monotonic())
        self._queue.put(job)
        return await job.future

    async def close(self) -> None:
        """Take no more calls; return once every accepted one has its answer."""
        self._queue.close()
        for thread in self._threads:
            if thread.is_alive():
                await asyncio.to_thread(thread.join)

    def _serve(self) -> None:
        self._thread_init()
        while (jobs := self._queue.take()) is not None:
            if self._on_batch is not None:
                self._observe(self._on_batch, jobs)
            _deliver(jobs, _run(jobs))

    @staticmethod
    def _observe(on_batch: BatchObserver, jobs: Sequence[_Job]) -> None:
        taken = time.monotonic()
        try:
            on_batch(sum(job.batch.x.shape[0] for job in jobs), [taken - j.queued_at for j in jobs])
        except Exception:  # a failing observer must not end a model thread: calls would hang
            logger.exception("batch observer failed")


def _run(jobs: Sequence[_Job]) -> list[Outcome]:
    predictor = jobs[0].predictor
    if len(jobs) == 1:
        return [_alone(predictor, jobs[0].batch)]
    batches = [job.batch for job in jobs]
    try:
        prediction = _predict(predictor, merge(batches, predictor.config))
    except Exception:
        # Members were checked before they queued, but should one still break the merged
        # call, running each alone gives the error to that one only.
        return [_alone(predictor, batch) for batch in batches]
    return list(split(prediction, batches))


def _alone(predictor: Predictor, batch: Batch) -> Outcome:
    try:
        return _predict(predictor, batch)
    except Exception as exc:
        return exc


def _predict(predictor: Predictor, batch: Batch) -> Prediction:
    """A prediction that is not finite is an error too: checked once for a merged call, here
    in the model thread, rather than once per caller on the event loop."""
    prediction = predictor.predict(batch.x, batch.lengths, batch.state, batch.return_steps)
    check_finite(prediction)
    return prediction


def _deliver(jobs: Sequence[_Job], outcomes: Sequence[Outcome]) -> None:
    """From the model thread: one wake-up of each caller's event loop per group, not per job."""
    for loop in {job.loop for job in jobs}:
        mine = [(job, out) for job, out in zip(jobs, outcomes, strict=True) if job.loop is loop]
        with contextlib.suppress(RuntimeError):  # that loop has closed: its callers are gone
            loop.call_soon_threadsafe(_settle, mine)


def _settle(outcomes: Sequence[tuple[_Job, Outcome]]) -> None:
    """On the event loop: hand each caller its outcome (a caller that went away has none)."""
    for job, outcome in outcomes:
        if job.future.done():
            continue
        if isinstance(outcome, Exception):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)


def batcher_for(settings: Settings, on_batch: BatchObserver | None = None) -> Batcher:
    """The batcher as configured; its threads set the backend's thread count first."""
    limits = ALONE
    if settings.batching:
        limits = BatchLimits(
            settings.max_batch_delay_ms / 1000,
            settings.max_batch_sequences,
            settings.max_batch_steps,
        )
    use_threads = predictor_class(settings.backend).use_threads
    return Batcher(
        limits,
        settings.inference_threads,
        partial(use_threads, settings.torch_threads),
        on_batch,
        settings.max_queued_sequences,
    )
