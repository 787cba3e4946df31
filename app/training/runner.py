"""The training-job runner inside each server process: a queue in the shared database, one worker
process per running job (`python -m app.training.worker`, never a thread of the server), at most
`max_concurrent_jobs` of them per server process, cancellation, and recovery.

Every server process (`--workers N`, or replicas on one PostgreSQL) runs one. Each claims queued
jobs from the database (app/training/store.py), so a job runs exactly once, and renews the lease
on the jobs it runs. Its heartbeat, every `HEARTBEAT_S`, also acts for the others: a cancel
requested on another process reaches this one's worker; a running job whose owner is gone (its
process dead on this host, or its lease run out) becomes `interrupted` with its last progress; a
stored version whose owner died before applying its activation policy gets it applied; a job
queued on another process wakes this one's dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import anyio.to_thread

from app.core.database import DATABASE_URL_VARIABLE
from app.core.errors import JobConflict, QueueFull
from app.core.replica import Replica, owner_is_dead
from app.core.settings import Settings
from app.registry.models import ModelRegistry
from app.training.activation import apply_policy
from app.training.plan import JobPlan
from app.training.store import LOG_NAME, Job, JobState, JobStore
from app.training.views import StreamSlots

logger = logging.getLogger(__name__)

# app.training.worker's status when it stopped for a shutdown (not imported: it loads torch).
EXIT_STOPPED = 75
STOP_TIMEOUT_S = 10.0  # a worker stops within one batch; after this it is killed
HEARTBEAT_S = 0.5  # how often a runner looks at the shared queue (cancels, owners gone, new jobs)
MAX_AUTOMATIC_RESUMES = 3  # then an interrupted job stays so, until POST /v1/train/{id}/resume


class WorkerProcess(Protocol):
    @property
    def pid(self) -> int: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


Launcher = Callable[[Job, JobStore, Settings], Awaitable[WorkerProcess]]
# Kept out of a worker's environment: it never serves a request.
SECRET_VARIABLES = frozenset({"LSTM_SERVE_API_TOKEN", "LSTM_SERVE_INFERENCE_TOKENS"})


async def launch_worker(job: Job, jobs: JobStore, settings: Settings) -> WorkerProcess:
    """`python -m app.training.worker` in its own session (a Ctrl+C meant for the server does not
    reach it), output appended to the job's worker.log, thread pools sized before import. A job
    with `processes` above 1 runs as a torchrun group of that many workers
    (`python -m app.training.group`) in one session, signalled as a whole."""
    worker = [str(jobs.data_dir.resolve()), job.id,
              "--threads", str(settings.training_threads),
              "--niceness", str(settings.training_niceness),
              "--data-workers", str(settings.training_data_workers)]  # fmt: skip
    if settings.training_memory_bytes is not None:
        worker += ["--memory-bytes", str(settings.training_memory_bytes)]
    if settings.training_sched_idle:
        worker.append("--sched-idle")
    processes = job.spec.get("processes", 1)
    if processes == 1:
        command = ["-m", "app.training.worker", *worker, "--parent", str(os.getpid())]
    else:
        command = ["-m", "app.training.group", "--processes", str(processes),
                   "--server", str(os.getpid()), "--", *worker]  # fmt: skip
    with (jobs.job_dir(job.id) / LOG_NAME).open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_environment(settings),
            start_new_session=True,
        )
    return ProcessGroup(process)


class ProcessGroup:
    """A worker and whatever it started (a group's ranks, a data loader's processes): one
    session, so a signal reaches them all."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait(self) -> int:
        return await self.process.wait()

    def send_signal(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)  # its session's id is its pid

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.send_signal(signal.SIGKILL)


def worker_environment(settings: Settings) -> dict[str, str]:
    """The server's environment without its secrets (a worker never serves a request), with
    the thread pools sized before any library starts them."""
    env = {name: value for name, value in os.environ.items() if name not in SECRET_VARIABLES}
    if settings.database_url is not None:  # the worker writes to the server's database
        env[DATABASE_URL_VARIABLE] = settings.database_url
    threads = str(settings.training_threads)
    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {**env, "PYTHONUNBUFFERED": "1", **dict.fromkeys(pools, threads)}


class JobRunner:
    def __init__(
        self,
        jobs: JobStore,
        registry: ModelRegistry,
        settings: Settings,
        launcher: Launcher = launch_worker,
    ) -> None:
        self.jobs, self.registry, self.settings = jobs, registry, settings
        self.replica = Replica.of(settings)
        self.event_streams = StreamSlots(settings.max_event_streams)
        self._launch = launcher
        self._workers: dict[str, WorkerProcess] = {}
        self._cancelling: set[str] = set()  # jobs whose worker was told to stop
        self._renewed_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._closing = False

    @property
    def room(self) -> int:
        """Jobs queued or running at most; one more is answered 429."""
        return self.settings.max_concurrent_jobs + self.settings.max_queued_jobs

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self._remove_orphans)
        await self._settle_others()  # before any request: a restart recovers at once
        self._spawn(self._dispatch())
        self._spawn(self._heartbeat())

    def _remove_orphans(self) -> None:
        """Files that no row names (a crash mid-write), once they are old enough."""
        self.registry.store.remove_orphans()
        self.jobs.remove_orphans()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
            except Exception:  # the database is unreachable for now: try again on the next beat
                logger.exception("training job runner: heartbeat failed; retrying")

    async def _beat(self) -> None:
        mine = set(self._workers)
        if mine:
            for job_id in await anyio.to_thread.run_sync(self._renew_or_check):
                worker = self._workers.get(job_id)
                if worker is not None and job_id not in self._cancelling:
                    self._cancelling.add(job_id)
                    _signal(worker, signal.SIGUSR1)
        await self._settle_others()
        room = len(self._workers) < self.settings.max_concurrent_jobs
        if room and await anyio.to_thread.run_sync(self.jobs.has_queued):
            self._wake.set()

    def _renew_or_check(self) -> list[str]:
        """Renew this process's leases when a third of one has passed; the ids of its jobs
        whose cancel was requested (on any process)."""
        lease = self.settings.job_lease_seconds
        if time.monotonic() - self._renewed_at < lease / 3:
            return self.jobs.cancel_requested(self.replica.owner)
        self._renewed_at = time.monotonic()
        return self.jobs.renew(self.replica.owner, lease)

    async def _settle_others(self) -> None:
        """Interrupt the running jobs of owners that are gone; queue interrupted jobs again to
        go on from their resume points (when `resume_interrupted`); apply the activation policy
        of the succeeded jobs whose owner died before it could."""
        for job in await anyio.to_thread.run_sync(self._settle_running):
            _log_finished(job.id, "interrupted", owner=job.owner)
        if self.settings.resume_interrupted and not self._closing:
            requeued = await anyio.to_thread.run_sync(self._resume_interrupted)
            if requeued:
                self._wake.set()
        for job in await anyio.to_thread.run_sync(self._orphaned_activations):
            await self._apply_policy(job.id)

    def _resume_interrupted(self) -> list[Job]:
        """Interrupted jobs queued again, each at most MAX_AUTOMATIC_RESUMES times (a job whose
        worker the kernel kills for memory would otherwise be resumed for ever)."""
        requeued = []
        for job in self.jobs.resumable(MAX_AUTOMATIC_RESUMES):
            why = (job.error or {}).get("message", "interrupted")
            if self.jobs.requeue(job, why):
                requeued.append(job)
                logger.info(
                    "training job %s queued again after epoch %d",
                    job.id,
                    job.resume_epoch or 0,
                    extra=_event("resumed", job.id, after_epoch=job.resume_epoch or 0),
                )
        return requeued

    async def resume(self, job_id: str) -> Job | None:
        """POST /v1/train/{id}/resume: an interrupted job queued again at once, whatever its
        count of resumes; JobConflict (409) when it is not interrupted; None when unknown."""
        job = await anyio.to_thread.run_sync(self.jobs.get, job_id)
        if job is None:
            return None
        if job.state != "interrupted" or not await anyio.to_thread.run_sync(
            self.jobs.requeue, job, "resumed by request"
        ):
            raise JobConflict(
                f"job {job_id} is {job.state}: only an interrupted job can be resumed",
                ("job_id",),
            )
        self._wake.set()
        return await anyio.to_thread.run_sync(self.jobs.get, job_id)

    def _settle_running(self) -> list[Job]:
        now, interrupted_jobs = time.time(), []
        for job in self.jobs.in_state("running"):
            if job.owner == self.replica.owner or not owner_gone(job, now):
                continue
            why = "its server process stopped"
            if self.jobs.interrupt(job, interrupted(job, why)):
                interrupted_jobs.append(job)
        return interrupted_jobs

    def _orphaned_activations(self) -> list[Job]:
        """Succeeded jobs still waiting for their policy a whole lease after their owner last
        renewed (or whose owner is dead): the owner applies it within moments otherwise."""
        grace = time.time() - self.settings.job_lease_seconds
        return [
            job
            for job in self.jobs.pending_activations()
            if job.owner != self.replica.owner and owner_gone(job, grace)
        ]

    def check_room(self) -> None:
        """429 before the request's data is worked on (submit checks again, atomically)."""
        waiting = self.jobs.count_waiting()
        if waiting >= self.room:
            raise QueueFull(
                f"{waiting} training jobs are queued or running, the most this "
                "server takes; retry when one has finished"
            )

    async def submit(self, plan: JobPlan) -> Job:
        job = await anyio.to_thread.run_sync(self._store, uuid.uuid4().hex, plan)
        logger.info("training job %s queued", job.id, extra=_event("queued", job.id))
        self._wake.set()
        return job

    def _store(self, job_id: str, plan: JobPlan) -> Job:
        sha256 = self.jobs.write_data(job_id, plan.data, plan.data_sha256)  # the file first
        try:
            return self.jobs.create(job_id, plan.spec, plan.data.summary(), sha256, self.room)
        except BaseException:
            shutil.rmtree(self.jobs.job_dir(job_id), ignore_errors=True)
            raise

    async def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled at once; a running one's worker is told to stop."""
        job = await anyio.to_thread.run_sync(self.jobs.cancel, job_id)
        worker = self._workers.get(job_id)
        if job is not None and job.state == "running" and worker is not None:
            self._cancelling.add(job_id)
            _signal(worker, signal.SIGUSR1)
        if job is not None:
            logger.info("training job %s: cancel requested", job_id, extra=_event("cancel", job_id))
        return job

    async def close(self) -> None:
        """Stop every worker (their jobs become `interrupted`); queued jobs wait for the next
        start."""
        self._closing = True
        for worker in self._workers.values():
            _signal(worker, signal.SIGTERM)
        await asyncio.gather(*(self._stop(job_id, w) for job_id, w in self._workers.items()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stop(self, job_id: str, worker: WorkerProcess) -> None:
        try:
            await asyncio.wait_for(worker.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            worker.kill()
            await worker.wait()
        job = await anyio.to_thread.run_sync(self.jobs.get, job_id)
        if job is not None:
            error = interrupted(job, "the server shut down")
            if await anyio.to_thread.run_sync(self.jobs.end, job_id, "interrupted", error):
                _log_finished(job_id, "interrupted")

    async def _dispatch(self) -> None:
        while True:
            try:
                while len(self._workers) < self.settings.max_concurrent_jobs:
                    job = await anyio.to_thread.run_sync(
                        self.jobs.claim_next, self.replica.owner, self.settings.job_lease_seconds
                    )
                    if job is None:
                        break
                    await self._start_worker(job)
            except Exception:  # e.g. the database is locked for longer than its timeout
                logger.exception("training job runner: cannot start queued jobs; retrying")
                await asyncio.sleep(1.0)
                continue
            await self._wake.wait()
            self._wake.clear()

    async def _start_worker(self, job: Job) -> None:
        try:
            worker = await self._launch(job, self.jobs, self.settings)
        except OSError as exc:
            error = {"code": "worker_failed", "message": f"cannot start a worker: {exc}"}
            await anyio.to_thread.run_sync(self.jobs.end, job.id, "failed", error)
            return
        self._workers[job.id] = worker
        logger.info(
            "training job %s started (worker pid %d)",
            job.id,
            worker.pid,
            extra=_event("started", job.id, worker_pid=worker.pid),
        )
        self._spawn(self._watch(job.id, worker))

    async def _watch(self, job_id: str, worker: WorkerProcess) -> None:
        code = await worker.wait()
        if self._closing:
            return  # close() records the outcome
        try:
            await anyio.to_thread.run_sync(self._after_exit, job_id, code)
        finally:
            del self._workers[job_id]
            self._cancelling.discard(job_id)
            self._wake.set()

    def _after_exit(self, job_id: str, code: int) -> None:
        """The worker is gone: record a death it could not, apply a success's policy."""
        job = self.jobs.get(job_id)
        if job is None:
            return
        state: JobState = job.state
        if state == "running":
            if job.cancel_requested:  # e.g. SIGUSR1 came before the worker could handle it
                state = "cancelled"
                self.jobs.end(job_id, state)
            elif code == EXIT_STOPPED or code < 0:
                # Stopped, or killed by a signal (the OOM killer, an operator): not the job's own
                # failure, so it may go on from its last epoch (resume_interrupted, or by hand).
                state = "interrupted"
                why = "its worker was stopped from outside" if code >= 0 else died(code)
                self.jobs.end(job_id, state, interrupted(job, why))
            else:
                state = "failed"
                self.jobs.end(job_id, state, {"code": "worker_died", "message": died(code)})
            logger.warning("training job %s: worker exited with status %d", job_id, code)
        _log_finished(job_id, state, exit_status=code)
        if state == "succeeded" and job.activation is None:
            _log_activation(job, apply_policy(job, self.registry, self.jobs))

    async def _apply_policy(self, job_id: str) -> None:
        job = await anyio.to_thread.run_sync(self.jobs.get, job_id)
        if job is not None and job.activation is None:
            outcome = await anyio.to_thread.run_sync(apply_policy, job, self.registry, self.jobs)
            _log_activation(job, outcome)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("training job runner task failed", exc_info=task.exception())


def _event(event: str, job_id: str, **fields: Any) -> dict[str, Any]:
    """A job lifecycle record's fields (JSON log lines carry them as keys)."""
    return {"event": f"job_{event}", "job_id": job_id, **fields}


def _log_finished(job_id: str, state: str, **fields: Any) -> None:
    logger.info(
        "training job %s finished: %s",
        job_id,
        state,
        extra=_event("finished", job_id, state=state, **fields),
    )


def _log_activation(job: Job, outcome: dict[str, Any]) -> None:
    """The activation policy's outcome for a succeeded job's version."""
    logger.info(
        "training job %s stored version %s: %s (%s)",
        job.id,
        job.model_version,
        outcome["state"],
        outcome["reason"],
        extra=_event("activation", job.id, version=job.model_version, outcome=outcome["state"]),
    )


def _signal(worker: WorkerProcess, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just exited: its watcher records it
        worker.send_signal(sig)


def owner_gone(job: Job, now: float) -> bool:
    """Whether the process that claimed `job` is gone: dead on this host, or its lease ran out
    by `now` (a job claimed before owners were recorded has none)."""
    if job.owner is None or owner_is_dead(job.owner):
        return True
    return job.lease_expires_at is None or job.lease_expires_at < now


def interrupted(job: Job, why: str) -> dict[str, str]:
    progress = job.progress
    where = (
        f"after epoch {progress['epoch']} of {progress['epochs']}"
        if progress
        else "before its first epoch finished"
    )
    saved = (
        f"it goes on from epoch {job.resume_epoch} when resumed"
        if job.resume_epoch
        else "resumed, it starts again from epoch 1"
    )
    return {"code": "interrupted", "message": f"{why} while the job was running, {where}; {saved}"}


def died(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the training process was killed by {name}{hint}"
    return f"the training process exited with status {code}; see the job's {LOG_NAME}"
