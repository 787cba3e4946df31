"""The model store: `model_versions` and the pointer to the active version in the service's
database (app/core/database), each version's checkpoint at
`<data_dir>/models/<version>/model.safetensors` (on PostgreSQL: in the database, cached there).
Versions are increasing integers written as strings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.clock import timestamp
from app.core.database import Connection, Database, open_database
from app.core.errors import Location, ModelUnavailable, UnknownModelVersion
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.errors import CheckpointError
from model.files import remove_stale_directories, sha256_of_file

CHECKPOINT_NAME = "model.safetensors"
# A version directory without a row is removed at start-up once it is this old: younger, it may
# be another server process's checkpoint on its way to being registered.
ORPHAN_AGE_S = 600.0

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
OnAdded = Callable[[Connection, "ModelVersion"], None]


class ModelStore:
    def __init__(self, data_dir: Path, db: Database | None = None) -> None:
        """`db` None: the SQLite database of `data_dir`."""
        self.data_dir = data_dir
        self.db = db or open_database(data_dir)

    def checkpoint_path(self, version: str) -> Path:
        return self.data_dir / "models" / version / CHECKPOINT_NAME

    def load(self, version: str, location: Location = ()) -> Checkpoint:
        """A stored version's checkpoint: UnknownModelVersion (at `location`, where the request
        named it) when it is not stored, ModelUnavailable when its file can no longer be loaded.
        The one place where a stored checkpoint's CheckpointError becomes the service's error."""
        try:
            return load_checkpoint(self.checkpoint_file(version, location))
        except CheckpointError as exc:
            raise ModelUnavailable(
                f"model version {version} cannot be loaded: {exc.problem}"
            ) from exc

    def checkpoint_file(self, version: str, location: Location = ()) -> Path:
        """The version's checkpoint on this replica's disk (fetched from the database on first
        use where it holds the files): UnknownModelVersion when the version is not stored,
        ModelUnavailable when its file is gone."""
        stored = self.get(version)
        if stored is None:
            raise UnknownModelVersion(f"no model version {version!r}", location)
        try:
            return self.db.local_file(self.checkpoint_path(version), stored.sha256)
        except FileNotFoundError as exc:
            raise ModelUnavailable(f"model version {version} cannot be loaded: {exc}") from exc

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
            self.db.notify_active(db, version)

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
        db: Connection,
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
        self.db.store_file(db, path, sha256)
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
        """Delete old version directories that have no row (a crash between writing a
        checkpoint and committing its row); run at start-up."""
        with self.db.connect() as db:
            known = {row[0] for row in db.execute("SELECT version FROM model_versions")}
        return remove_stale_directories(self.data_dir / "models", known, ORPHAN_AGE_S)


def _next_version(db: Connection) -> str:
    (highest,) = db.execute("SELECT MAX(CAST(version AS INTEGER)) FROM model_versions").fetchone()
    return str((highest or 0) + 1)


def _find_by_sha256(db: Connection, sha256: str) -> ModelVersion | None:
    query = (
        f"SELECT {_COLUMNS} FROM model_versions "
        f"WHERE sha256 = ? OR source_sha256 = ? {_BY_NUMBER} LIMIT 1"
    )
    row = db.execute(query, (sha256, sha256)).fetchone()
    return None if row is None else ModelVersion.from_row(row)


def _insert(db: Connection, stored: ModelVersion, source_sha256: str) -> None:
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
