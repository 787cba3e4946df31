"""Training jobs: the `jobs` and `job_epochs` tables in the service's database, next to the model
versions, and `<data_dir>/jobs/<id>/` with the job's data (`data.npz`, also in the database on
PostgreSQL) and its worker's log. Server processes, on one host or many, and the jobs' worker
processes all write here; every state change is conditional on the state it leaves, so none
overwrites another's outcome.

A job is claimed, never assigned: a server process takes the oldest queued job in one
transaction and holds it with a lease that it renews while the job trains. A job whose lease ran
out (the process that held it died) is interrupted by whichever process notices first."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from app.core.clock import timestamp
from app.core.database import Connection, Database, open_database
from app.core.errors import JobConflict, QueueFull
from model.data import Samples, from_arrays
from model.files import (
    atomic_write_bytes,
    atomic_write_chunks,
    make_directories,
    remove_stale_directories,
    sha256_of_file,
)
from model.windows import SeriesWindows

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
DATA_NAME = "data.npz"
SERIES_NAME = "data.npy"  # a series on disk, trained on memory-mapped (spec "windows")
LOG_NAME = "worker.log"
RESUME_NAME = "resume.safetensors"  # the worker's last resume point (model.train_state)

# A job directory without a row is removed at start-up once it is this old: younger, it may be
# another server process's submission on its way to being registered.
ORPHAN_AGE_S = 600.0
_COLUMNS = (
    "id, seq, state, revision, created_at, started_at, finished_at, spec, data, progress, "
    "model_version, result, error, activation, cancel_requested, owner, lease_expires_at, "
    "data_sha256, resume_epoch, resume_sha256, resumes"
)
_COUNT_WAITING = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
_JSON_FIELDS = ("spec", "data", "progress", "result", "error", "activation", "resumes")


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    state: JobState
    revision: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    spec: dict[str, Any]
    data: dict[str, Any]
    progress: dict[str, Any] | None
    model_version: str | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    activation: dict[str, Any] | None
    cancel_requested: bool
    owner: str | None  # "host:pid" of the server process that claimed it
    lease_expires_at: float | None  # Unix time; its owner renews it while the job runs
    data_sha256: str | None  # of data.npz (None for a job stored before it was recorded)
    resume_epoch: int | None  # the last epoch of its resume point; None: none saved
    resume_sha256: str | None  # of resume.safetensors
    resumes: list[dict[str, Any]] | None  # each time it was resumed: after_epoch, at, why

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        values = dict(row)
        for name in _JSON_FIELDS:
            values[name] = None if values[name] is None else json.loads(values[name])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


class JobNotRunning(Exception):
    """A worker's result arrived for a job that is no longer running (cancelled, interrupted)."""


class JobStore:
    def __init__(self, data_dir: Path, db: Database | None = None) -> None:
        """`db` None: the SQLite database of `data_dir`."""
        self.data_dir = data_dir
        self.db = db or open_database(data_dir)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def data_path(self, job_id: str, spec: dict[str, Any]) -> Path:
        return self.job_dir(job_id) / (SERIES_NAME if "windows" in spec else DATA_NAME)

    def write_data(self, job_id: str, data: Samples, sha256: str | None = None) -> str:
        """The job's validated samples, written atomically before the job row exists; their
        file's sha256. A series on disk is linked into the job's directory (copied where it
        cannot be), never read into memory: the job keeps it when its data set is deleted;
        `sha256`, its data set's, spares reading it all again."""
        if isinstance(data, SeriesWindows):
            target = self.job_dir(job_id) / SERIES_NAME
            make_directories(target.parent)
            try:
                os.link(data.path, target)
            except OSError:  # another file system, or links not allowed
                with data.path.open("rb") as source:
                    atomic_write_chunks(target, iter(lambda: source.read(1 << 20), b""))
            return sha256 or sha256_of_file(target)
        samples = data.in_memory()
        buffer = io.BytesIO()
        np.savez(buffer, inputs=samples.inputs, targets=samples.targets)
        content = buffer.getvalue()
        atomic_write_bytes(self.job_dir(job_id) / DATA_NAME, content)
        return hashlib.sha256(content).hexdigest()

    def resume_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / RESUME_NAME

    def resume_point(self, job: Job) -> Path | None:
        """The job's last resume point on this replica's disk (fetched from the database where
        it holds the files); None when the job saved none."""
        if job.resume_sha256 is None:
            return None
        return self.db.local_file(self.resume_path(job.id), job.resume_sha256)

    def read_data(self, job: Job) -> Samples:
        """The job's samples, from this replica's disk (fetched from the database first where
        it holds the files and another replica took the submission); a series on disk is
        memory-mapped."""
        path = self.data_path(job.id, job.spec)
        if job.data_sha256 is not None:
            path = self.db.local_file(path, job.data_sha256)
        # Written by this service from validated data: a trusted file.
        windows = job.spec.get("windows")
        if windows is not None:
            return SeriesWindows.open(
                path,
                windows["window"],
                windows["horizon"],
                windows["target_columns"],
                source=job.data["source"],
                trusted=True,
                per_step=windows.get("per_step", False),
            )
        with np.load(path, allow_pickle=False) as archive:
            return from_arrays(archive["inputs"], archive["targets"], source=job.data["source"])

    # --- reading ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        rows = self._select("WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def revision(self, job_id: str) -> int | None:
        with self.db.connect() as db:
            row = db.execute("SELECT revision FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else int(row[0])

    def page(self, limit: int, before: int | None = None, state: str | None = None) -> list[Job]:
        """Newest first; `before` is a `seq` to page on from."""
        clauses: list[str] = ["seq < ?"]
        args: list[Any] = [before if before is not None else 2**62]
        if state is not None:
            clauses.append("state = ?")
            args.append(state)
        return self._select(
            f"WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?", (*args, limit)
        )

    def resumable(self, max_resumes: int) -> list[Job]:
        """Interrupted jobs resumed fewer than `max_resumes` times, oldest first."""
        return self._select("WHERE state = 'interrupted' AND resume_count < ? ORDER BY seq",
                            (max_resumes,))  # fmt: skip

    def history(self, job_id: str) -> list[dict[str, Any]]:
        query = (
            "SELECT epoch, train_loss, val_loss, elapsed_s FROM job_epochs "
            "WHERE job_id = ? ORDER BY epoch"
        )
        with self.db.connect() as db:
            return db.dicts(query, (job_id,))

    def count_waiting(self) -> int:
        """Jobs queued or running."""
        with self.db.connect() as db:
            (count,) = db.execute(_COUNT_WAITING).fetchone()
        return int(count)

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, 0 when none): for /metrics."""
        with self.db.connect() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in get_args(JobState)} | {row[0]: int(row[1]) for row in rows}

    def in_state(self, state: JobState) -> list[Job]:
        return self._select("WHERE state = ? ORDER BY seq", (state,))

    def pending_activations(self) -> list[Job]:
        return self._select("WHERE state = 'succeeded' AND activation IS NULL ORDER BY seq", ())

    def has_queued(self) -> bool:
        with self.db.connect() as db:
            return (
                db.execute("SELECT 1 FROM jobs WHERE state = 'queued' LIMIT 1").fetchone()
                is not None
            )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        with self.db.connect() as db:
            rows = db.dicts(f"SELECT {_COLUMNS} FROM jobs {where}", args)
        return [Job.from_row(row) for row in rows]

    # --- the server's changes --------------------------------------------------------------

    def create(
        self, job_id: str, spec: dict[str, Any], data: dict[str, Any], data_sha256: str, room: int
    ) -> Job:
        """Insert a queued job unless `room` jobs are already queued or running (QueueFull);
        its data (`write_data`, whose sha256 is `data_sha256`) is on the disk already."""
        with self.db.transaction() as db:
            (waiting,) = db.execute(_COUNT_WAITING).fetchone()
            if waiting >= room:
                raise QueueFull(
                    f"{waiting} training jobs are queued or running, the most this server "
                    "takes; retry when one has finished"
                )
            self.db.store_file(db, self.data_path(job_id, spec), data_sha256)
            db.execute(
                "INSERT INTO jobs (id, state, created_at, spec, data, data_sha256) "
                "VALUES (?, 'queued', ?, ?, ?, ?)",
                (job_id, timestamp(), json.dumps(spec), json.dumps(data), data_sha256),
            )
        job = self.get(job_id)
        assert job is not None  # just inserted
        return job

    def claim_next(self, owner: str, lease_s: float) -> Job | None:
        """The oldest queued job, now running and held by `owner` for `lease_s` seconds; None
        when none is queued. Concurrent claimers never take the same job: SQLite serializes
        them, PostgreSQL skips the row another claimer has locked."""
        with self.db.transaction(serialized=False) as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
                + self.db.skip_locked
            ).fetchone()
            if row is None:
                return None
            _update(
                db,
                row[0],
                "queued",
                "state = 'running', started_at = ?, owner = ?, lease_expires_at = ?",
                (timestamp(), owner, time.time() + lease_s),
            )
        return self.get(row[0])

    def renew(self, owner: str, lease_s: float) -> list[str]:
        """Extend the leases of `owner`'s running jobs; the ids of those whose cancel was
        requested (on any replica), for the owner to stop."""
        with self.db.transaction(serialized=False) as db:
            db.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE owner = ? AND state = 'running'",
                (time.time() + lease_s, owner),
            )
        return self.cancel_requested(owner)

    def cancel_requested(self, owner: str) -> list[str]:
        """`owner`'s running jobs whose cancel was requested."""
        query = "SELECT id FROM jobs WHERE owner = ? AND state = 'running' AND cancel_requested = 1"
        with self.db.connect() as db:
            return [row[0] for row in db.execute(query, (owner,))]

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; ask a running one to stop (its worker finishes it).
        None for an unknown job; JobConflict for one that has already finished otherwise."""
        with self.db.transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            state = row[0]
            if state == "queued":
                _update(
                    db,
                    job_id,
                    "queued",
                    _ENDED + ", cancel_requested = 1",
                    ("cancelled", timestamp()),
                )
            elif state == "running":
                _update(db, job_id, "running", "cancel_requested = 1", ())
            elif state != "cancelled":
                raise JobConflict(f"job {job_id} has already finished ({state})", ("job_id",))
        return self.get(job_id)

    def end(self, job_id: str, state: JobState, error: dict[str, Any] | None = None) -> bool:
        """Running -> `state` (failed, cancelled, interrupted); False when it was not running."""
        with self.db.transaction() as db:
            changed = _update(
                db,
                job_id,
                "running",
                _ENDED + ", error = ?",
                (state, timestamp(), None if error is None else json.dumps(error)),
            )
        return changed

    def interrupt(self, job: Job, error: dict[str, Any]) -> bool:
        """Running -> interrupted, for a job whose owner is gone: only if its lease is still the
        one `job` shows (an owner that renewed it meanwhile is alive after all); False when the
        job changed since it was read."""
        lease = job.lease_expires_at
        with self.db.transaction() as db:
            return _update(
                db,
                job.id,
                "running",
                _ENDED + ", error = ?",
                ("interrupted", timestamp(), json.dumps(error)),
                extra="AND lease_expires_at IS NULL"
                if lease is None
                else "AND lease_expires_at = ?",
                extra_args=() if lease is None else (lease,),
            )

    def requeue(self, job: Job, why: str) -> bool:
        """Interrupted -> queued again, to go on from its resume point (from the start when it
        saved none): the epochs after that point are forgotten, since they run again, and the
        resume is recorded. False when the job changed since it was read."""
        after = job.resume_epoch or 0
        resumes = [*(job.resumes or []), {"after_epoch": after, "at": timestamp(), "why": why}]
        with self.db.transaction() as db:
            changed = _update(
                db,
                job.id,
                "interrupted",
                "state = 'queued', started_at = NULL, finished_at = NULL, error = NULL, "
                "owner = NULL, lease_expires_at = NULL, resumes = ?, "
                "resume_count = resume_count + 1",
                (json.dumps(resumes),),
                extra="AND revision = ?",
                extra_args=(job.revision,),
            )
            if changed:
                db.execute("DELETE FROM job_epochs WHERE job_id = ? AND epoch > ?", (job.id, after))
        return changed

    def set_activation(self, job_id: str, activation: dict[str, Any]) -> bool:
        """Record the policy's outcome; False when another process recorded one first."""
        with self.db.transaction() as db:
            return _update(
                db,
                job_id,
                "succeeded",
                "activation = ?",
                (json.dumps(activation),),
                extra="AND activation IS NULL",
            )

    def remove_orphans(self) -> list[str]:
        """Delete old job directories without a row (a crash between writing a job's data and
        inserting the job); run at start-up."""
        with self.db.connect() as db:
            known = {row[0] for row in db.execute("SELECT id FROM jobs")}
        return remove_stale_directories(self.data_dir / "jobs", known, ORPHAN_AGE_S)

    # --- the worker's changes --------------------------------------------------------------

    def record_epoch(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Store an epoch's losses as the job's progress. Returns whether the worker should
        stop: the job is no longer running (interrupted) or a cancel was requested."""
        with self.db.transaction() as db:
            if not _update(db, job_id, "running", "progress = ?", (json.dumps(progress),)):
                return True
            _upsert_epoch(db, job_id, progress)
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            return bool(row.fetchone()[0])

    def restore_history(self, job_id: str, history: list[dict[str, Any]]) -> None:
        """The job's epochs are `history` (a resume point's): rows past its end go, and each of
        its epochs is written as it stands there."""
        last = history[-1]["epoch"] if history else 0
        with self.db.transaction() as db:
            db.execute("DELETE FROM job_epochs WHERE job_id = ? AND epoch > ?", (job_id, last))
            for epoch in history:
                _upsert_epoch(db, job_id, epoch)

    def record_resume_point(self, job_id: str, epoch: int, sha256: str) -> bool:
        """The worker wrote `resume_path(job_id)` (whose sha256 is `sha256`) after `epoch`;
        False when the job is no longer running."""
        with self.db.transaction() as db:
            row = db.execute("SELECT resume_sha256 FROM jobs WHERE id = ?", (job_id,)).fetchone()
            self.db.store_file(db, self.resume_path(job_id), sha256)
            if not _update(
                db, job_id, "running", "resume_epoch = ?, resume_sha256 = ?", (epoch, sha256)
            ):
                return False
            if row is not None and row[0] not in (None, sha256):  # the epoch before's: replaced
                self.db.forget_file(db, row[0], "resume_sha256")
            return True

    @staticmethod
    def succeed(db: Connection, job_id: str, version: str, result: dict[str, Any]) -> None:
        """Mark the job succeeded with its version, inside the transaction that registers the
        version (ModelStore.add's `on_added`); JobNotRunning rolls both back when the job was
        cancelled or interrupted meanwhile."""
        changed = _update(
            db,
            job_id,
            "running",
            _ENDED + ", model_version = ?, result = ?",
            ("succeeded", timestamp(), version, json.dumps(result)),
            extra="AND cancel_requested = 0",
        )
        if not changed:
            raise JobNotRunning(f"job {job_id} is no longer running; its model is not stored")


_ENDED = "state = ?, finished_at = ?"


def _update(
    db: Connection,
    job_id: str,
    from_state: str,
    assignments: str,
    args: tuple[Any, ...],
    extra: str = "",
    extra_args: tuple[Any, ...] = (),
) -> bool:
    """One conditional change: applied only while the job is in `from_state` (and `extra`)."""
    cursor = db.execute(
        f"UPDATE jobs SET {assignments}, revision = revision + 1 "
        f"WHERE id = ? AND state = ? {extra}",
        (*args, job_id, from_state, *extra_args),
    )
    return cursor.rowcount == 1


def _upsert_epoch(db: Connection, job_id: str, epoch: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO job_epochs (job_id, epoch, train_loss, val_loss, elapsed_s) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, epoch) DO UPDATE SET "
        "train_loss = excluded.train_loss, val_loss = excluded.val_loss, "
        "elapsed_s = excluded.elapsed_s",
        (job_id, epoch["epoch"], epoch["train_loss"], epoch["val_loss"], epoch["elapsed_s"]),
    )
