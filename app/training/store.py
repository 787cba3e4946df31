"""Training jobs on disk: the `jobs` and `job_epochs` tables in the data directory's database,
next to the model versions, and `<data_dir>/jobs/<id>/` with the job's data (`data.npz`) and its
worker's log. The server and the job's worker process both write here; every state change is
conditional on the state it leaves, so the two never overwrite each other's outcome."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from app.core.clock import timestamp
from app.core.database import Database
from app.core.errors import JobConflict, QueueFull
from model.data import SequenceData, from_arrays
from model.files import atomic_write_bytes

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
DATA_NAME = "data.npz"
LOG_NAME = "worker.log"

_STATES = ", ".join(f"'{state}'" for state in get_args(JobState))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ({_STATES})),
    revision INTEGER NOT NULL DEFAULT 0,    -- bumped on every change: cheap polling
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    spec TEXT NOT NULL,       -- JSON: model, training, init_from, activate
    data TEXT NOT NULL,       -- JSON summary of the job's data
    progress TEXT,            -- JSON: the last finished epoch
    model_version TEXT REFERENCES model_versions (version),
    result TEXT,              -- JSON: metrics of the finished run
    error TEXT,               -- JSON: {{"code", "message"}}
    activation TEXT,          -- JSON: the activation policy's outcome; NULL while pending
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_epochs (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    val_loss REAL,
    elapsed_s REAL NOT NULL,
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;
"""
_COLUMNS = (
    "id, seq, state, revision, created_at, started_at, finished_at, spec, data, progress, "
    "model_version, result, error, activation, cancel_requested"
)
_COUNT_WAITING = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
_JSON_FIELDS = ("spec", "data", "progress", "result", "error", "activation")


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
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
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir, _SCHEMA)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def data_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / DATA_NAME

    def write_data(self, job_id: str, data: SequenceData) -> None:
        """The job's validated samples, written atomically before the job row exists."""
        buffer = io.BytesIO()
        np.savez(buffer, inputs=data.inputs, targets=data.targets)
        atomic_write_bytes(self.data_path(job_id), buffer.getvalue())

    def read_data(self, job_id: str, source: str) -> SequenceData:
        with np.load(self.data_path(job_id), allow_pickle=False) as archive:
            return from_arrays(archive["inputs"], archive["targets"], source=source)

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

    def history(self, job_id: str) -> list[dict[str, Any]]:
        query = (
            "SELECT epoch, train_loss, val_loss, elapsed_s FROM job_epochs "
            "WHERE job_id = ? ORDER BY epoch"
        )
        with self.db.connect() as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(query, (job_id,))]

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

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        with self.db.connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT {_COLUMNS} FROM jobs {where}", args).fetchall()
        return [Job.from_row(row) for row in rows]

    # --- the server's changes --------------------------------------------------------------

    def create(self, job_id: str, spec: dict[str, Any], data: dict[str, Any], room: int) -> Job:
        """Insert a queued job unless `room` jobs are already queued or running (QueueFull)."""
        with self.db.transaction() as db:
            (waiting,) = db.execute(_COUNT_WAITING).fetchone()
            if waiting >= room:
                raise QueueFull(
                    f"{waiting} training jobs are queued or running, the most this server "
                    "takes; retry when one has finished"
                )
            db.execute(
                "INSERT INTO jobs (id, state, created_at, spec, data) "
                "VALUES (?, 'queued', ?, ?, ?)",
                (job_id, timestamp(), json.dumps(spec), json.dumps(data)),
            )
        job = self.get(job_id)
        assert job is not None  # just inserted
        return job

    def claim_next(self) -> Job | None:
        """The oldest queued job, now marked running; None when none is queued."""
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            _update(db, row[0], "queued", "state = 'running', started_at = ?", (timestamp(),))
        return self.get(row[0])

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

    def set_activation(self, job_id: str, activation: dict[str, Any]) -> None:
        with self.db.transaction() as db:
            _update(db, job_id, "succeeded", "activation = ?", (json.dumps(activation),))

    def remove_orphans(self) -> list[str]:
        """Delete job directories without a row (a crash between writing a job's data and
        inserting the job); run at start-up."""
        jobs = self.data_dir / "jobs"
        if not jobs.is_dir():
            return []
        with self.db.connect() as db:
            known = {row[0] for row in db.execute("SELECT id FROM jobs")}
        orphans = sorted(p.name for p in jobs.iterdir() if p.name not in known)
        for name in orphans:
            shutil.rmtree(jobs / name, ignore_errors=True)
        return orphans

    # --- the worker's changes --------------------------------------------------------------

    def record_epoch(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Store an epoch's losses as the job's progress. Returns whether the worker should
        stop: the job is no longer running (interrupted) or a cancel was requested."""
        with self.db.transaction() as db:
            if not _update(db, job_id, "running", "progress = ?", (json.dumps(progress),)):
                return True
            db.execute(
                "INSERT OR REPLACE INTO job_epochs (job_id, epoch, train_loss, val_loss, "
                "elapsed_s) VALUES (?, ?, ?, ?, ?)",
                (
                    job_id,
                    progress["epoch"],
                    progress["train_loss"],
                    progress["val_loss"],
                    progress["elapsed_s"],
                ),
            )
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            return bool(row.fetchone()[0])

    @staticmethod
    def succeed(db: sqlite3.Connection, job_id: str, version: str, result: dict[str, Any]) -> None:
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
    db: sqlite3.Connection,
    job_id: str,
    from_state: str,
    assignments: str,
    args: tuple[Any, ...],
    extra: str = "",
) -> bool:
    """One conditional change: applied only while the job is in `from_state`."""
    cursor = db.execute(
        f"UPDATE jobs SET {assignments}, revision = revision + 1 "
        f"WHERE id = ? AND state = ? {extra}",
        (*args, job_id, from_state),
    )
    return cursor.rowcount == 1
