"""SQLite: one file, `<data_dir>/lstm-serve.db` by default, in WAL mode so that readers (the
server processes) and a writer (a training worker) work at once. Each operation opens its own
connection: the stores are used from several threads and processes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from app.core.database.base import Connection, Database
from app.core.errors import BackendUnavailable, StartupError
from model.files import make_directories

DATABASE_NAME = "lstm-serve.db"
BUSY_TIMEOUT_S = 30  # a writer waits this long for another's lock before giving up


class SQLiteDatabase(Database):
    engine = "sqlite"

    def __init__(self, data_dir: Path, path: Path) -> None:
        """Open (creating when needed) and migrate the database at `path`; StartupError naming
        the file when it is not a database."""
        super().__init__(data_dir)
        self.path = path
        make_directories(data_dir)
        make_directories(path.parent)
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode = WAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise StartupError(f"{self.path}: {exc}") from exc

    def describe(self) -> str:
        return f"SQLite {self.path}"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        ) as db:
            db.execute("PRAGMA foreign_keys = ON")
            # FULL: a committed transaction survives a power cut, not only a process crash.
            db.execute("PRAGMA synchronous = FULL")
            yield db

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _busy_is_unavailable(), self._connect() as db:
            yield Connection(db, "sqlite")

    @contextmanager
    def transaction(self, serialized: bool = True) -> Iterator[Connection]:
        """BEGIN IMMEDIATE takes the write lock first, so two writers never read-then-write past
        each other (two importers picking one version number, say): every write transaction is
        serialized on SQLite, whatever `serialized` says."""
        with _busy_is_unavailable(), self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield Connection(db, "sqlite")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # The files live in the data directory beside the database: nothing to share or fetch.
    def store_file(self, db: Connection, path: Path, sha256: str) -> None:
        return None

    def local_file(self, path: Path, sha256: str) -> Path:
        return path

    def forget_file(self, db: Connection, sha256: str, column: str) -> None:
        return None  # the file itself is replaced on disk

    def notify_active(self, db: Connection, version: str) -> None:
        return None  # SQLite has no notifications: readers poll (wait_for_activation)

    async def wait_for_activation(self, timeout_s: float) -> None:
        await asyncio.sleep(timeout_s)

    async def stop_listening(self) -> None:
        return None

    def close(self) -> None:
        return None  # a connection per operation: none is left open


@contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """A lock held past the busy time-out (another process's long write) is a 503 to retry,
    not a 500."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        raise BackendUnavailable(f"the database is busy: {exc}") from exc
