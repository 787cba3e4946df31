"""Uploaded data sets: `<data_dir>/datasets/<id>/data.npz` or `data.csv`, validated before they
are registered in the `datasets` table, so a training request can name one by id.

An .npz file's array headers are read before any array is, so a small compressed file that
would unpack into gigabytes is refused with 413 instead of filling the memory."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from app.core.clock import timestamp
from app.core.database import Database
from app.core.errors import LimitExceeded
from model.data import load_npz, read_csv_series
from model.errors import InvalidInput
from model.files import atomic_write_bytes

DatasetFormat = Literal["npz", "csv"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('npz', 'csv')),
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL  -- JSON: npz: n, steps, input_size, output_size; CSV: rows, columns
);
"""
_COLUMNS = "id, created_at, format, bytes, sha256, summary"


@dataclass(frozen=True)
class Dataset:
    id: str
    created_at: str
    format: DatasetFormat
    bytes: int
    sha256: str
    summary: dict[str, Any]
    path: Path


class DatasetStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir, _SCHEMA)

    def get(self, dataset_id: str) -> Dataset | None:
        found = self._select("WHERE id = ?", (dataset_id,))
        return found[0] if found else None

    def all(self) -> list[Dataset]:
        return self._select("ORDER BY seq DESC", ())

    def add(self, content: bytes, kind: DatasetFormat, max_values: int) -> Dataset:
        """Validate and store an upload; InvalidInput (422) or LimitExceeded (413) leave
        nothing behind."""
        dataset_id = uuid.uuid4().hex
        path = self.data_dir / "datasets" / dataset_id / f"data.{kind}"
        atomic_write_bytes(path, content)
        try:
            summary = _validate(path, kind, max_values)
            with self.db.transaction() as db:
                db.execute(
                    f"INSERT INTO datasets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        dataset_id,
                        timestamp(),
                        kind,
                        len(content),
                        hashlib.sha256(content).hexdigest(),
                        json.dumps(summary),
                    ),
                )
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        stored = self.get(dataset_id)
        assert stored is not None  # just inserted
        return stored

    def remove_orphans(self) -> list[str]:
        """Delete data set directories without a row (a crash during an upload)."""
        root = self.data_dir / "datasets"
        if not root.is_dir():
            return []
        known = {dataset.id for dataset in self.all()}
        orphans = sorted(p.name for p in root.iterdir() if p.name not in known)
        for name in orphans:
            shutil.rmtree(root / name, ignore_errors=True)
        return orphans

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Dataset]:
        with self.db.connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT {_COLUMNS} FROM datasets {where}", args).fetchall()
        return [self._from_row(row) for row in rows]

    def _from_row(self, row: sqlite3.Row) -> Dataset:
        values = {**dict(row), "summary": json.loads(row["summary"])}
        path = self.data_dir / "datasets" / row["id"] / f"data.{row['format']}"
        return Dataset(**values, path=path)


def _validate(path: Path, kind: DatasetFormat, max_values: int) -> dict[str, Any]:
    """The data set's summary; messages name "the upload", not the server's file path."""
    try:
        if kind == "csv":
            names, values = read_csv_series(path)  # (rows, F)
            return {"rows": int(values.shape[0]), "columns": names}
        check_npz_size(path, max_values)
        summary = load_npz(path).summary()
        return {key: value for key, value in summary.items() if key != "source"}
    except InvalidInput as exc:
        message = exc.message.replace(str(path), "the upload")
        raise InvalidInput(message, ("body", *exc.location)) from exc


def check_npz_size(path: Path, max_values: int) -> None:
    """Read the shapes of `inputs` and `targets` from their .npy headers, before loading."""
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for name in ("inputs.npy", "targets.npy"):
                if name in archive.namelist():
                    with archive.open(name) as member:
                        shape = _npy_shape(member)
                    total += int(np.prod(shape, dtype=np.int64))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"the upload is not an .npz file: {exc}") from exc
    if total > max_values:
        raise LimitExceeded(
            f"the data set holds {total} numbers; at most {max_values} per training job",
            ("body",),
        )


def _npy_shape(member: IO[bytes]) -> tuple[int, ...]:
    version = np.lib.format.read_magic(member)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, _ = read(member)
    return tuple(int(size) for size in shape)
