"""The training worker: `python -m app.training.worker DATA_DIR JOB_ID --parent PID [--threads N]
[--niceness K]`, one process per job, started by the server's job runner (app/training/runner.py),
or one process per rank of a job that trains data-parallel, started by `torchrun` inside
app/training/group.py (`--parent` is then that launcher).

It loads the job's validated data from disk, trains with the torch engine on a limited number of
threads, writes every epoch's progress to the database, and stores the result as a new model
version in the same transaction that marks the job succeeded. It records its own outcome
(succeeded, failed with a reason, cancelled); the server records the rest (a worker that died,
a job interrupted by a shutdown). It stops within one batch on SIGUSR1 (cancel) or SIGTERM (the
server shuts down), and dies with the server: a worker never outlives the server that started it.

In a group, rank 0 alone writes to the database (progress, resume points, the outcome); the
other ranks train and exit. An error that is not the job's own (a peer that died breaks the
collectives) is left to the group's launcher, which knows how every rank ended.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import resource
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from app.core.database import DATABASE_URL_VARIABLE, open_database
from app.core.errors import ModelUnavailable, ServiceError
from app.registry.store import ModelStore
from app.training.store import Job, JobNotRunning, JobStore
from model.backends import predictor_class, trainer
from model.checkpoint import Checkpoint, load_checkpoint
from model.config import LSTMConfig
from model.data import Samples
from model.distributed import SINGLE, Group, join_group, launched_by_torchrun, leave_group
from model.errors import CheckpointError, InvalidInput, TrainingCancelled, TrainingFailed
from model.evaluation import baseline, validation_mse
from model.files import sha256_of_file
from model.forecast import windows_predictor
from model.inference import Predictor
from model.series_evaluation import series_metadata
from model.series_task import SeriesTask
from model.train_loop import (
    EpochProgress,
    TrainParams,
    TrainResult,
    split_data,
    validation_rows,
)
from model.train_state import Checkpointing, TrainingState, load_state, save_state

EXIT_STOPPED = 75  # stopped for a shutdown, or orphaned: the job's state is the server's to set
OOM_SCORE_ADJ_MAX = 1000
_PR_SET_PDEATHSIG = 1


class StopFlags:
    """The `should_stop` hook: a cancel, a shutdown, or a server that is gone. Signal handlers
    only set flags, and the hook reads them, so checking before every batch costs nothing."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.cancelled = False
        self.shutdown = False

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self._on_cancel)
        signal.signal(signal.SIGTERM, self._on_shutdown)
        signal.signal(signal.SIGINT, self._on_shutdown)

    def _on_cancel(self, _signum: int, _frame: FrameType | None) -> None:
        self.cancelled = True

    def _on_shutdown(self, _signum: int, _frame: FrameType | None) -> None:
        self.shutdown = True

    def orphaned(self) -> bool:
        return os.getppid() != self.parent

    def __call__(self) -> bool:
        return self.cancelled or self.shutdown or self.orphaned()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.training.worker")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("job_id")
    parser.add_argument("--parent", type=int, required=True, help="the server's pid")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--niceness", type=int, default=0)
    parser.add_argument("--memory-bytes", type=int, help="RLIMIT_DATA: the heap's bound")
    parser.add_argument("--data-workers", type=int, default=0, help="for a series on disk")
    parser.add_argument("--sched-idle", action="store_true", help="Linux: SCHED_IDLE")
    args = parser.parse_args(argv)
    stop = StopFlags(args.parent)
    stop.install()
    die_with_parent()
    if stop.orphaned():  # the server died before the line above took effect
        return EXIT_STOPPED
    os.nice(args.niceness)
    if args.sched_idle and hasattr(os, "SCHED_IDLE"):
        # Below every niceness: the worker (its threads and processes too) gets only the CPU
        # time the server leaves, so a job costs the requests' latency least; on a saturated
        # host it waits.
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    _first_to_go_when_memory_runs_out()
    if args.memory_bytes is not None:
        # The heap, not the address space: a data set on disk is mapped, and a mapped file's
        # pages are the kernel's to drop, so only what the worker allocates counts.
        resource.setrlimit(resource.RLIMIT_DATA, (args.memory_bytes, args.memory_bytes))
    if not launched_by_torchrun():
        return run_job(
            args.data_dir, args.job_id, args.threads, stop, data_workers=args.data_workers
        )
    group = join_group()
    try:
        return run_job(args.data_dir, args.job_id, args.threads, stop, group, args.data_workers)
    finally:
        leave_group()


def _first_to_go_when_memory_runs_out() -> None:
    """Linux: the highest OOM score, so that when memory runs out the kernel kills this worker
    (its job ends `failed`) and never the server. Raising one's own score needs no privilege."""
    # Not Linux, or no /proc: the server is then as exposed as before.
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text(str(OOM_SCORE_ADJ_MAX))


def die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies, even by SIGKILL. Elsewhere
    the stop hook's parent check ends it within one batch."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_job(
    data_dir: Path,
    job_id: str,
    threads: int | None,
    stop: StopFlags,
    group: Group = SINGLE,
    data_workers: int = 0,
) -> int:
    """Run a claimed (running) job to its end; the process's exit status. `threads`: torch's
    thread count (process-wide), None to leave it. `group`: this rank's torchrun group.
    `data_workers`: DataLoader processes that read a series on disk."""
    db = open_database(data_dir, os.environ.get(DATABASE_URL_VARIABLE))
    store, jobs = ModelStore(data_dir, db), JobStore(data_dir, db)
    job = jobs.get(job_id)
    if job is None or job.state != "running":
        return 0
    try:
        if job.cancel_requested:
            raise TrainingCancelled("cancelled before it started")
        _train_and_store(job, store, jobs, stop, group, threads, data_workers)
    except (TrainingCancelled, JobNotRunning):
        if stop.shutdown or stop.orphaned():
            return EXIT_STOPPED
        if group.leader:
            jobs.end(job_id, "cancelled")
    except (TrainingFailed, InvalidInput, CheckpointError, ServiceError) as exc:
        if group.leader:
            jobs.end(job_id, "failed", {"code": "training_failed", "message": str(exc)})
    except MemoryError:
        if group.leader:
            why = "the training process ran out of memory (TRAINING_MEMORY_BYTES)"
            jobs.end(job_id, "failed", {"code": "training_failed", "message": why})
    except Exception as exc:  # a bug: the reason in the job, the traceback in its log
        traceback.print_exc()
        if group.size == 1:  # in a group, the launcher records it, knowing every rank's end
            jobs.end(
                job_id,
                "failed",
                {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"},
            )
        return 1
    return 0


def _train_and_store(
    job: Job,
    store: ModelStore,
    jobs: JobStore,
    stop: StopFlags,
    group: Group,
    threads: int | None,
    data_workers: int,
) -> None:
    spec = job.spec
    params = TrainParams(**spec["training"], num_threads=threads)
    data = jobs.read_data(job)
    base = spec["init_from"]
    init = load_checkpoint(store.checkpoint_file(base)) if base is not None else None
    # Rank 0 alone reports (the trainer calls it on rank 0 only) and saves resume points.
    progress = ProgressWriter(jobs, job.id, stop)
    checkpointing = _checkpointing(job, jobs, stop, group)
    # torch: imported by the worker only, never by the server.
    train = trainer("torch")
    config = LSTMConfig.from_dict(spec["model"])
    device = spec.get("device", "cpu")
    result = train(config, data, params, progress, stop, init, checkpointing, device, data_workers)
    if not group.leader:
        return
    metrics = _metrics(result, data, params, store)
    series = _series_metadata(result.checkpoint, spec, data, params)
    if "forecast" in series:
        metrics["forecast"] = series.pop("forecast")
    checkpoint = result.checkpoint.with_metadata(
        metrics=metrics,
        job={"id": job.id, "activate": spec["activate"], "init_from": base},
        **series,
    )
    source = {"kind": "training", "job": job.id, "data": job.data, "init_from": base}
    if stop():
        raise TrainingCancelled("stopped before the model was stored")
    store.add(
        checkpoint,
        source,
        on_added=lambda db, stored: JobStore.succeed(db, job.id, stored.version, metrics),
    )


def _checkpointing(job: Job, jobs: JobStore, stop: StopFlags, group: Group) -> Checkpointing:
    """Resume points into the job's directory (and the database), every `checkpoint_every`
    epochs; the job's last one to start from, when it was interrupted and queued again."""
    path = jobs.resume_path(job.id)
    saved = jobs.resume_point(job)
    state = None if saved is None else load_state(saved)
    if state is not None and group.leader:
        # The file may be one epoch past the database's record of it (a process killed between
        # writing it and recording it): the run goes on from the file, so its history is the
        # job's up to there.
        jobs.restore_history(job.id, [epoch_record(epoch) for epoch in state.history])

    def save(state: TrainingState) -> None:
        save_state(state, path)
        if not jobs.record_resume_point(job.id, state.epoch, sha256_of_file(path)):
            stop.cancelled = True  # no longer running: interrupted or cancelled meanwhile

    every = job.spec.get("checkpointing", {}).get("every", 1)
    return Checkpointing(save, every, state)


class ProgressWriter:
    """on_progress: every epoch's losses to the database; a cancel found there stops the run
    (the signal normally comes first: this covers a signal sent before the handler was set)."""

    def __init__(self, jobs: JobStore, job_id: str, stop: StopFlags) -> None:
        self.jobs, self.job_id, self.stop = jobs, job_id, stop
        self.best: tuple[float, int] | None = None

    def __call__(self, progress: EpochProgress) -> None:
        score = progress.val_loss if progress.val_loss is not None else progress.train_loss
        if self.best is None or score < self.best[0]:
            self.best = (score, progress.epoch)
        record = {**epoch_record(progress), "best_epoch": self.best[1]}
        if self.jobs.record_epoch(self.job_id, record):
            self.stop.cancelled = True


def epoch_record(progress: EpochProgress) -> dict[str, Any]:
    """An epoch as the job's history and progress show it."""
    return {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "train_loss": finite(progress.train_loss),
        "val_loss": finite(progress.val_loss),
        "elapsed_s": round(progress.elapsed_s, 3),
    }


def _metrics(
    result: TrainResult, data: Samples, params: TrainParams, store: ModelStore
) -> dict[str, Any]:
    """The run's losses, and for if_better the validation MSE (user units) of the new model and
    of the version active now, on the job's own validation split."""
    summary = result.checkpoint.metadata["training"]
    names = ("best_epoch", "epochs_run", "stopped_early", "train_loss", "val_loss", "duration_s")
    metrics: dict[str, Any] = {name: finite(summary[name]) for name in names}
    _, val = split_data(data, params)
    if val is None:
        return {**metrics, "val_mse": None, "validation_samples": 0, "baseline": None}
    new = _predictor(result.checkpoint)
    metrics.update(val_mse=validation_mse(new, val), validation_samples=len(val))
    active = store.active_version()
    try:
        current = _predictor(load_checkpoint(store.checkpoint_file(active))) if active else None
    except CheckpointError as exc:
        metrics["baseline"] = {"version": active, "val_mse": None, "reason": exc.problem}
        return metrics
    except ModelUnavailable as exc:
        metrics["baseline"] = {"version": active, "val_mse": None, "reason": exc.message}
        return metrics
    metrics["baseline"] = baseline(active, current, val)
    return metrics


def _series_metadata(
    checkpoint: Checkpoint, spec: dict[str, Any], data: Samples, params: TrainParams
) -> dict[str, Any]:
    if "task" not in spec:
        return {}
    predict = windows_predictor(_predictor(checkpoint))
    task = SeriesTask.from_dict(spec["task"])
    return series_metadata(task, predict, data, validation_rows(len(data), params))


def _predictor(checkpoint: Checkpoint) -> Predictor:
    return predictor_class("torch")(checkpoint)


def finite(value: Any) -> Any:
    """JSON has no inf or NaN: such losses are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is committed and fsynced by now; skipping the interpreter's teardown (torch's
    # takes a while) lets the server apply the activation policy sooner.
    os._exit(status)
