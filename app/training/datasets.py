"""Uploaded data sets: `<data_dir>/datasets/<id>/data.npz`, `data.csv` or `data.npy` (on
PostgreSQL: in the database, cached there), validated before they are registered in the
`datasets` table, so a training request can name one by id.

An upload streams to the disk as it arrives (`DatasetUpload`), a chunk at a time: the server
never holds the whole file, so an .npy series larger than its memory can be uploaded, and
trained on memory-mapped (model/windows.py).

An .npy series has its header checked and its values checked finite a few megabytes at a time;
it stays on disk as it is. An .npz file is read as a predict body is (model/npy.py): each
array's header is checked before its data is read, and the bytes it unpacks into are counted as
they arrive, so a small compressed file that would unpack into gigabytes is refused with 413
instead of filling the memory. A CSV streams through model/data.py's reader, its columns and
numbers bounded as it is read.

The store keeps at most a quota of data sets, by count and by bytes (409 past it), checked with
the insert in one transaction so concurrent uploads cannot both take the last place. A full disk
is InsufficientStorage (507). Whatever fails, the upload's directory goes with it; a crash leaves
at worst a directory without a row, which `remove_orphans` deletes at the next start."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.core.clock import timestamp
from app.core.database import Connection, Database, is_disk_full, open_database
from app.core.errors import DatasetQuotaExceeded, InsufficientStorage, LimitExceeded
from app.protocol.v1.binary_body import file_errors
from model.data import load_npz, read_csv_series
from model.errors import DataTooLarge, InvalidInput
from model.files import fsync_directory, make_directories, remove_stale_directories
from model.npy import Budget
from model.windows import check_finite, series_layout

DatasetFormat = Literal["npz", "csv", "npy"]

# An upload directory without a row is removed at start-up once it is this old: younger, it may
# be another server process's upload in progress.
ORPHAN_AGE_S = 600.0
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


@dataclass(frozen=True)
class DatasetQuota:
    """How many data sets the store keeps, and how many bytes all of them hold together."""

    count: int
    bytes: int


class DatasetStore:
    def __init__(
        self, data_dir: Path, quota: DatasetQuota | None = None, db: Database | None = None
    ) -> None:
        """`quota` None: no quota, for a store that is only read (a worker, a tool). `db` None:
        the SQLite database of `data_dir`."""
        self.data_dir = data_dir
        self.quota = quota
        self.db = db or open_database(data_dir)

    def local_file(self, dataset: Dataset) -> Path:
        """The data set's file on this replica's disk (fetched from the database on first use
        where it holds the files); FileNotFoundError when it has been deleted."""
        return self.db.local_file(dataset.path, dataset.sha256)

    def get(self, dataset_id: str) -> Dataset | None:
        found = self._select("WHERE id = ?", (dataset_id,))
        return found[0] if found else None

    def all(self) -> list[Dataset]:
        return self._select("ORDER BY seq DESC", ())

    def begin(self, kind: DatasetFormat, declared_bytes: int = 0) -> DatasetUpload:
        """A new data set's file, to write the upload into as it arrives; DatasetQuotaExceeded
        (409) before any of it is read when the store holds as many data sets as it keeps, or
        when the size the request declares would not fit."""
        with self.db.connect() as db:
            self._check_quota(db, declared_bytes)
        return DatasetUpload(self.data_dir / "datasets" / uuid.uuid4().hex, kind)

    def add(
        self, upload: DatasetUpload, max_values: int, max_bytes: int, *, max_columns: int
    ) -> Dataset:
        """Validate and register a whole upload; InvalidInput (422), InvalidBody (400),
        LimitExceeded (413), DatasetQuotaExceeded (409) or InsufficientStorage (507) leave
        nothing behind. An .npz may unpack into `max_bytes` and hold `max_values` numbers; a
        CSV may have `max_columns` columns and `max_values` numbers in its numeric ones; an
        .npy series `max_columns` columns (its size is the upload's, bounded as it arrives)."""
        try:
            with _full_disk_is_507("the data set was not stored"):
                path = upload.finish()
            summary = _validate(path, upload.kind, max_values, max_bytes, max_columns)
            with _full_disk_is_507("the data set was not stored"), self.db.transaction() as db:
                # Under the write lock: another upload may have taken the room meanwhile.
                self._check_quota(db, upload.size)
                self.db.store_file(db, path, upload.sha256)
                db.execute(
                    f"INSERT INTO datasets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        upload.id,
                        timestamp(),
                        upload.kind,
                        upload.size,
                        upload.sha256,
                        json.dumps(summary),
                    ),
                )
        except BaseException:
            upload.discard()
            raise
        stored = self.get(upload.id)
        assert stored is not None  # just inserted
        return stored

    def remove(self, dataset_id: str) -> bool:
        """Delete a data set; False when there is none by that id. The row goes first, then
        the directory, so a crash between them leaves a directory without a row, which
        `remove_orphans` deletes at the next start. Jobs keep their own copy of their data
        (`jobs/<id>/data.npz`, written when they are submitted), so the jobs planned from it
        train on regardless."""
        with _full_disk_is_507("the data set was not deleted"), self.db.transaction() as db:
            deleted = db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,)).rowcount
        if deleted:
            root = self.data_dir / "datasets"
            shutil.rmtree(root / dataset_id, ignore_errors=True)
            if root.is_dir():
                fsync_directory(root)  # the removal itself survives a power cut
        return bool(deleted)

    def remove_orphans(self) -> list[str]:
        """Delete old data set directories without a row (a crash during an upload)."""
        known = {dataset.id for dataset in self.all()}
        return remove_stale_directories(self.data_dir / "datasets", known, ORPHAN_AGE_S)

    def _check_quota(self, db: Connection, size: int) -> None:
        """DatasetQuotaExceeded when one more data set of `size` bytes would pass the quota."""
        if self.quota is None:
            return
        query = "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM datasets"
        count, total = (int(value) for value in db.execute(query).fetchone())
        if count >= self.quota.count:
            raise DatasetQuotaExceeded(
                f"{count} data sets are stored, the most this server keeps; delete one first"
            )
        if total + size > self.quota.bytes:
            raise DatasetQuotaExceeded(
                f"the data sets hold {total} bytes; {size} more would pass the quota of "
                f"{self.quota.bytes}; delete one first",
                ("body",),
            )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Dataset]:
        with self.db.connect() as db:
            rows = db.dicts(f"SELECT {_COLUMNS} FROM datasets {where}", args)
        return [self._from_row(row) for row in rows]

    def _from_row(self, row: dict[str, Any]) -> Dataset:
        values = {**dict(row), "summary": json.loads(row["summary"])}
        path = self.data_dir / "datasets" / row["id"] / f"data.{row['format']}"
        return Dataset(**values, path=path)


class DatasetUpload:
    """An upload on its way to the disk: appended to a temporary file in the data set's new
    directory as it arrives, hashed on the way, renamed into place once it is whole."""

    def __init__(self, directory: Path, kind: DatasetFormat) -> None:
        self.id, self.kind = directory.name, kind
        self.directory = directory
        self.path = directory / f"data.{kind}"
        self.size = 0
        self._digest = hashlib.sha256()
        with _full_disk_is_507("the data set was not stored"):
            make_directories(directory)
            self._file = (directory / f".data.{kind}.part").open("xb")

    def write(self, chunk: bytes) -> None:
        with _full_disk_is_507("the data set was not stored"):
            self._file.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def finish(self) -> Path:
        """The whole file, synced, under its name."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._file.name, self.path)
        fsync_directory(self.directory)
        return self.path

    def discard(self) -> None:
        self._file.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _validate(
    path: Path, kind: DatasetFormat, max_values: int, max_bytes: int, max_columns: int
) -> dict[str, Any]:
    """The data set's summary; messages name "the upload", not the server's file path."""
    try:
        if kind == "csv":
            return _csv_summary(path, max_values, max_columns)
        if kind == "npy":
            return _npy_summary(path, max_columns)
        return _npz_summary(path, max_values, max_bytes)
    except InvalidInput as exc:
        message = exc.message.replace(str(path), "the upload")
        raise InvalidInput(message, ("body", *exc.location)) from exc


def _npz_summary(path: Path, max_values: int, max_bytes: int) -> dict[str, Any]:
    """Read as model/npy.py reads what a client sent, within one upload's budget: `max_bytes`
    unpacked, as many as the upload itself may have, and `max_values` numbers in inputs and
    targets, as many as one training job may take."""
    with file_errors(("body",), path=str(path)):
        summary = load_npz(path, Budget(max_bytes, max_values)).summary()
    return {key: value for key, value in summary.items() if key != "source"}


def _npy_summary(path: Path, max_columns: int) -> dict[str, Any]:
    """Rows and columns of a series, (rows,) or (rows, F), every value finite as float32; at
    most `max_columns` columns (the widest input a model may take)."""
    with file_errors(("body",), path=path.name):  # npy_layout names the file, not its path
        layout = series_layout(path)
    shape = layout.shape
    columns = 1 if len(shape) == 1 else shape[1]
    if columns > max_columns:
        raise LimitExceeded(
            f"the series has {columns} columns; a model takes at most {max_columns} features",
            ("body", "series"),
        )
    check_finite(path, layout)
    return {"rows": shape[0], "features": columns, "dtype": str(layout.dtype)}


def _csv_summary(path: Path, max_values: int, max_columns: int) -> dict[str, Any]:
    """Rows and numeric columns, read within the bounds of one training job: `max_columns`
    columns (the widest input a model may take), `max_values` numbers kept."""
    try:
        names, values = read_csv_series(path, max_columns=max_columns, max_values=max_values)
    except DataTooLarge as exc:
        message = exc.message.replace(str(path), "the upload")
        raise LimitExceeded(message, ("body", *exc.location)) from exc
    return {"rows": int(values.shape[0]), "columns": names}


@contextmanager
def _full_disk_is_507(outcome: str) -> Iterator[None]:
    """A full disk (or disk quota), met writing a file or a row, as InsufficientStorage."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise InsufficientStorage(f"the disk is full: {outcome}") from exc
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise InsufficientStorage(f"the disk is full: {outcome}") from exc
