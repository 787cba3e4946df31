"""The model store on disk: `<data_dir>/models/<version>/model.safetensors` and one SQLite
database, `<data_dir>/lstm-serve.db` (WAL mode), holding the `model_versions` table and the
pointer to the active version. Versions are increasing integers written as strings."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.clock import timestamp
from app.core.database import Database
from app.core.errors import Location, ModelUnavailable, UnknownModelVersion
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.errors import CheckpointError
from model.files import sha256_of_file

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


# Runs inside the transaction that registers a version (e.g. to mark its training job
# succeeded), so both are committed together or not at all; raising rolls both back.
OnAdded = Callable[[sqlite3.Connection, "ModelVersion"], None]


class ModelStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir, _SCHEMA)
        self.database = self.db.path

    def checkpoint_path(self, version: str) -> Path:
        return self.data_dir / "models" / version / CHECKPOINT_NAME

    def load(self, version: str, location: Location = ()) -> Checkpoint:
        """A stored version's checkpoint: UnknownModelVersion (at `location`, where the request
        named it) when it is not stored, ModelUnavailable when its file can no longer be loaded.
        The one place where a stored checkpoint's CheckpointError becomes the service's error."""
        if self.get(version) is None:
            raise UnknownModelVersion(f"no model version {version!r}", location)
        try:
            return load_checkpoint(self.checkpoint_path(version))
        except CheckpointError as exc:
            raise ModelUnavailable(
                f"model version {version} cannot be loaded: {exc.problem}"
            ) from exc

    def versions(self) -> list[ModelVersion]:
        with self.db.connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM model_versions {_BY_NUMBER}").fetchall()
        return [ModelVersion.from_row(row) for row in rows]

    def get(self, version: str) -> ModelVersion | None:
        with self.db.connect() as db:
            query = f"SELECT {_COLUMNS} FROM model_versions WHERE version = ?"
            row = db.execute(query, (version,)).fetchone()
        return None if row is None else ModelVersion.from_row(row)

    def active_version(self) -> str | None:
        with self.db.connect() as db:
            row = db.execute("SELECT version FROM active_model WHERE slot = 0").fetchone()
        return None if row is None else str(row[0])

    def set_active(self, version: str) -> None:
        with self.db.transaction() as db:
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
        with self.db.connect() as db:
            existing = _find_by_sha256(db, source_sha256)
        if existing is not None:
            return existing
        return self.add(checkpoint, {**source, "sha256": source_sha256}, source_sha256)

    def add(
        self,
        checkpoint: Checkpoint,
        source: dict[str, Any],
        source_sha256: str | None = None,
        on_added: OnAdded | None = None,
    ) -> ModelVersion:
        """Save `checkpoint` as the next version, or return the version whose stored file has
        the same sha256. `source` says where it came from (an import, a training job).

        The file is written (atomically) before its row, in one transaction with `on_added`:
        a crash or an error leaves no row without its file; a file without a row is removed
        here on error, or by `remove_orphans` after a crash."""
        with self.db.transaction() as db:
            version = _next_version(db)
            path = self.checkpoint_path(version)
            try:
                stored = self._store_file(db, checkpoint, source, source_sha256, version)
                if on_added is not None:
                    on_added(db, stored)
            except BaseException:
                # `version` is above every committed one: its directory is ours alone.
                shutil.rmtree(path.parent, ignore_errors=True)
                raise
        return stored

    def _store_file(
        self,
        db: sqlite3.Connection,
        checkpoint: Checkpoint,
        source: dict[str, Any],
        source_sha256: str | None,
        version: str,
    ) -> ModelVersion:
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
            created_at=timestamp("seconds"),
            sha256=sha256,
            source=source,
            metrics=metrics if isinstance(metrics, dict) else {},
            config=checkpoint.config,
            metadata=checkpoint.metadata,
        )
        _insert(db, stored, source_sha256 or sha256)
        return stored

    def remove_orphans(self) -> list[str]:
        """Delete version directories that have no row (a crash between writing a checkpoint
        and committing its row); run at start-up, before any worker can be writing one."""
        models = self.data_dir / "models"
        if not models.is_dir():
            return []
        with self.db.connect() as db:
            known = {row[0] for row in db.execute("SELECT version FROM model_versions")}
        orphans = sorted(p.name for p in models.iterdir() if p.is_dir() and p.name not in known)
        for name in orphans:
            shutil.rmtree(models / name, ignore_errors=True)
        return orphans


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
