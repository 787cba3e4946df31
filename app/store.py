"""The model store on disk: `<data_dir>/models/<version>/model.safetensors` and one SQLite
database, `<data_dir>/lstm-serve.db` (WAL mode), holding the `model_versions` table and the
pointer to the active version. Versions are increasing integers written as strings."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import StartupError, UnknownModelVersion
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.files import sha256_of_file

DATABASE_NAME = "lstm-serve.db"
CHECKPOINT_NAME = "model.safetensors"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    version TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,         -- of the stored model.safetensors
    source_sha256 TEXT NOT NULL,  -- of the file it was imported from (= sha256 if none)
    source TEXT NOT NULL,         -- JSON provenance: import path, training job, ...
    metrics TEXT NOT NULL,        -- JSON
    config TEXT NOT NULL,         -- JSON LSTMConfig, so listing never opens checkpoints
    metadata TEXT NOT NULL        -- JSON checkpoint header: training summary
);
CREATE TABLE IF NOT EXISTS active_model (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    version TEXT NOT NULL REFERENCES model_versions (version)
);
"""
_COLUMNS = "version, created_at, sha256, source, metrics, config, metadata"
_BY_NUMBER = "ORDER BY CAST(version AS INTEGER)"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created_at: str
    sha256: str
    source: dict[str, Any]
    metrics: dict[str, Any]
    config: LSTMConfig
    metadata: dict[str, Any]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ModelVersion:
        version, created_at, sha256, source, metrics, config, metadata = row
        return cls(
            version=version,
            created_at=created_at,
            sha256=sha256,
            source=json.loads(source),
            metrics=json.loads(metrics),
            config=LSTMConfig.from_dict(json.loads(config)),
            metadata=json.loads(metadata),
        )


class ModelStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.database = data_dir / DATABASE_NAME
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                # WAL lets readers (this server) and a writer (a training job) work at once.
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StartupError(f"{self.database}: {exc}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection per operation: the store is used from several threads."""
        with closing(sqlite3.connect(self.database, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock first, so two importers never pick one version."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def checkpoint_path(self, version: str) -> Path:
        return self.data_dir / "models" / version / CHECKPOINT_NAME

    def versions(self) -> list[ModelVersion]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM model_versions {_BY_NUMBER}").fetchall()
        return [ModelVersion.from_row(row) for row in rows]

    def get(self, version: str) -> ModelVersion | None:
        with self._connect() as db:
            query = f"SELECT {_COLUMNS} FROM model_versions WHERE version = ?"
            row = db.execute(query, (version,)).fetchone()
        return None if row is None else ModelVersion.from_row(row)

    def active_version(self) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT version FROM active_model WHERE slot = 0").fetchone()
        return None if row is None else str(row[0])

    def set_active(self, version: str) -> None:
        with self._transaction() as db:
            if not db.execute(
                "SELECT 1 FROM model_versions WHERE version = ?", (version,)
            ).fetchone():
                raise UnknownModelVersion(f"no model version {version!r}")
            db.execute(
                "INSERT INTO active_model (slot, version) VALUES (0, ?) "
                "ON CONFLICT (slot) DO UPDATE SET version = excluded.version",
                (version,),
            )

    def import_file(self, path: Path, source: dict[str, Any]) -> ModelVersion:
        """Store a checkpoint file (.safetensors or .pt) as a new version, or return the version
        that already holds it. Raises CheckpointError when the file cannot be loaded."""
        checkpoint = load_checkpoint(path)
        source_sha256 = sha256_of_file(path)
        with self._connect() as db:
            existing = _find_by_sha256(db, source_sha256)
        if existing is not None:
            return existing
        return self.add(checkpoint, {**source, "sha256": source_sha256}, source_sha256)

    def add(
        self, checkpoint: Checkpoint, source: dict[str, Any], source_sha256: str | None = None
    ) -> ModelVersion:
        """Save `checkpoint` as the next version, or return the version whose stored file has
        the same sha256. `source` says where it came from (an import, a training job)."""
        with self._transaction() as db:
            version = _next_version(db)
            path = self.checkpoint_path(version)
            save_checkpoint(checkpoint, path)
            sha256 = sha256_of_file(path)
            existing = _find_by_sha256(db, sha256)
            if existing is not None:
                shutil.rmtree(path.parent)
                return existing
            metrics = checkpoint.metadata.get("metrics")
            stored = ModelVersion(
                version=version,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                sha256=sha256,
                source=source,
                metrics=metrics if isinstance(metrics, dict) else {},
                config=checkpoint.config,
                metadata=checkpoint.metadata,
            )
            _insert(db, stored, source_sha256 or sha256)
        return stored


def _next_version(db: sqlite3.Connection) -> str:
    (highest,) = db.execute("SELECT MAX(CAST(version AS INTEGER)) FROM model_versions").fetchone()
    return str((highest or 0) + 1)


def _find_by_sha256(db: sqlite3.Connection, sha256: str) -> ModelVersion | None:
    query = (
        f"SELECT {_COLUMNS} FROM model_versions "
        f"WHERE sha256 = ? OR source_sha256 = ? {_BY_NUMBER} LIMIT 1"
    )
    row = db.execute(query, (sha256, sha256)).fetchone()
    return None if row is None else ModelVersion.from_row(row)


def _insert(db: sqlite3.Connection, stored: ModelVersion, source_sha256: str) -> None:
    db.execute(
        "INSERT INTO model_versions (version, created_at, sha256, source_sha256, source, "
        "metrics, config, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            stored.version,
            stored.created_at,
            stored.sha256,
            source_sha256,
            json.dumps(stored.source),
            json.dumps(stored.metrics),
            json.dumps(stored.config.to_dict()),
            json.dumps(stored.metadata),
        ),
    )
