"""The jobs table: every change conditional on the state it leaves, so the server and a worker
never overwrite each other's outcome."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.core.errors import JobConflict, QueueFull
from app.registry.store import ModelStore, ModelVersion
from app.training.store import JobNotRunning, JobStore
from tests.support.checkpoints import make_checkpoint

NO_DATA = "0" * 64  # the sha256 of a job's data file; these jobs have none
OWNER = "test-host:1"
PROGRESS = {"epoch": 1, "epochs": 3, "train_loss": 0.5, "val_loss": None, "elapsed_s": 0.1}


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ModelStore, JobStore]:
    return ModelStore(tmp_path), JobStore(tmp_path)


def test_create_refuses_beyond_the_room(stores: tuple[ModelStore, JobStore]) -> None:
    _, jobs = stores
    jobs.create("a" * 32, {}, {}, NO_DATA, room=2)
    jobs.create("b" * 32, {}, {}, NO_DATA, room=2)
    with pytest.raises(QueueFull):
        jobs.create("c" * 32, {}, {}, NO_DATA, room=2)
    jobs.cancel("a" * 32)
    jobs.create("c" * 32, {}, {}, NO_DATA, room=2)  # a cancelled job leaves room
    assert [job.id for job in jobs.page(10)] == ["c" * 32, "b" * 32, "a" * 32]


def test_claim_takes_the_oldest_queued_job(stores: tuple[ModelStore, JobStore]) -> None:
    _, jobs = stores
    for name in "ab":
        jobs.create(name * 32, {}, {}, NO_DATA, room=9)
    first = jobs.claim_next(OWNER, 60)
    assert first is not None and first.id == "a" * 32 and first.state == "running"
    assert first.started_at is not None
    assert jobs.claim_next(OWNER, 60).id == "b" * 32  # type: ignore[union-attr]
    assert jobs.claim_next(OWNER, 60) is None


def test_cancel_by_state(stores: tuple[ModelStore, JobStore]) -> None:
    _, jobs = stores
    job = jobs.create("a" * 32, {}, {}, NO_DATA, room=9)
    jobs.claim_next(OWNER, 60)
    running = jobs.cancel(job.id)
    assert running is not None and running.state == "running" and running.cancel_requested
    assert jobs.record_epoch(job.id, PROGRESS)  # the worker learns it must stop
    assert jobs.end(job.id, "cancelled")
    assert not jobs.end(job.id, "failed")  # an outcome is never overwritten
    assert jobs.cancel(job.id).state == "cancelled"  # type: ignore[union-attr]
    assert jobs.cancel("f" * 32) is None
    jobs.create("b" * 32, {}, {}, NO_DATA, room=9)
    jobs.claim_next(OWNER, 60)
    jobs.end("b" * 32, "failed", {"code": "x", "message": "y"})
    with pytest.raises(JobConflict):
        jobs.cancel("b" * 32)


def test_success_of_a_cancelled_job_stores_no_version(
    stores: tuple[ModelStore, JobStore],
) -> None:
    models, jobs = stores
    job = jobs.create("a" * 32, {}, {}, NO_DATA, room=9)
    jobs.claim_next(OWNER, 60)
    jobs.cancel(job.id)

    def succeed(db: sqlite3.Connection, stored: ModelVersion) -> None:
        JobStore.succeed(db, job.id, stored.version, {})

    with pytest.raises(JobNotRunning):
        models.add(make_checkpoint(0), {"kind": "training"}, on_added=succeed)
    assert models.versions() == [] and jobs.get(job.id).state == "running"  # type: ignore[union-attr]


def test_epochs_are_recorded_while_running_only(stores: tuple[ModelStore, JobStore]) -> None:
    _, jobs = stores
    job = jobs.create("a" * 32, {}, {}, NO_DATA, room=9)
    assert jobs.record_epoch(job.id, PROGRESS)  # queued: not running, so stop
    jobs.claim_next(OWNER, 60)
    assert not jobs.record_epoch(job.id, PROGRESS)
    assert not jobs.record_epoch(job.id, {**PROGRESS, "epoch": 2, "val_loss": 0.25})
    assert [e["epoch"] for e in jobs.history(job.id)] == [1, 2]
    stored = jobs.get(job.id)
    assert stored is not None and stored.progress == {**PROGRESS, "epoch": 2, "val_loss": 0.25}
    assert stored.revision == 3  # claimed, two epochs
