"""PostgreSQL, shared by replicas on many hosts: psycopg 3 with a connection pool.

Besides the tables, it holds the files (`blob_parts`: checkpoints, job data, data sets, resume
points, by sha256, in parts), so that replicas share nothing but the database; each replica
caches them in its own data directory. A change of the active version is announced with NOTIFY
on `ACTIVE_CHANNEL`."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from app.core.database.base import Connection, Database
from app.core.errors import BackendUnavailable, StartupError
from model.files import atomic_write_chunks, make_directories, sha256_of_file

ACTIVE_CHANNEL = "lstm_serve_active"
CONNECT_TIMEOUT_S = 10
POOL_SIZE = 8
# Write transactions that check then write (quotas, the next version number) take this
# transaction-scoped lock: one at a time across replicas, as SQLite's single writer does.
_WRITE_LOCK = 0x6C73746D  # "lstm"
PART_BYTES = 16 << 20  # a file's part: what one row of blob_parts holds


class PostgresDatabase(Database):
    engine = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, data_dir: Path, url: str) -> None:
        super().__init__(data_dir)
        self.url = url
        self._listener: psycopg.AsyncConnection[Any] | None = None
        make_directories(data_dir)
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            # A connection broken by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            self.migrate()
        except (PoolTimeout, psycopg.Error) as exc:
            self.pool.close()
            raise StartupError(f"{self.describe()}: {_first_line(exc)}") from exc

    def describe(self) -> str:
        parts = conninfo_to_dict(self.url)
        where = (
            f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        )
        return f"PostgreSQL {where}"

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _unreachable_is_unavailable(), self.pool.connection() as db:
            db.autocommit = True
            yield Connection(db, "postgresql")

    @contextmanager
    def transaction(self, serialized: bool = True) -> Iterator[Connection]:
        with _unreachable_is_unavailable(), self.pool.connection() as db:
            db.autocommit = False
            with db.transaction():
                if serialized:
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                yield Connection(db, "postgresql")

    def store_file(self, db: Connection, path: Path, sha256: str) -> None:
        """A part at a time, so memory holds one part whatever the file's size; a file that is
        there already (the same content under another name) is not read at all."""
        if _stored(db, sha256):
            return
        with path.open("rb") as handle:
            for part, content in enumerate(iter(lambda: handle.read(PART_BYTES), b"")):
                db.execute(
                    "INSERT INTO blob_parts (sha256, part, content) VALUES (?, ?, ?)",
                    (sha256, part, content),
                )
            if handle.tell() == 0:  # an empty file still has its row
                db.execute(
                    "INSERT INTO blob_parts (sha256, part, content) VALUES (?, 0, ?)",
                    (sha256, b""),
                )

    def forget_file(self, db: Connection, sha256: str, column: str) -> None:
        """The file `sha256` goes when no row names it in jobs.`column` any more (a resume point
        the job has replaced)."""
        db.execute(
            f"DELETE FROM blob_parts WHERE sha256 = ? AND NOT EXISTS "
            f"(SELECT 1 FROM jobs WHERE {column} = ?)",
            (sha256, sha256),
        )

    def local_file(self, path: Path, sha256: str) -> Path:
        """Files are written atomically, so one that exists is whole; one that another replica
        wrote is fetched once, a part at a time, then read from the disk."""
        if path.exists():
            return path
        # A server-side cursor (it lives in a transaction) hands out one part at a time.
        with (
            self.connect() as db,
            db.raw.transaction(),
            db.raw.cursor(name="blob_parts") as cursor,
        ):
            cursor.itersize = 1
            cursor.execute(
                "SELECT content FROM blob_parts WHERE sha256 = %s ORDER BY part", (sha256,)
            )
            parts = (bytes(row[0]) for row in cursor)
            first = next(parts, None)
            if first is None:
                raise FileNotFoundError(
                    f"{path.name}: no file with sha256 {sha256} in the database"
                )
            atomic_write_chunks(path, itertools.chain([first], parts))
        if sha256_of_file(path) != sha256:  # never serve a file that is not what was stored
            path.unlink()
            raise FileNotFoundError(f"{path.name}: the stored file does not match its sha256")
        return path

    def notify_active(self, db: Connection, version: str) -> None:
        db.execute("SELECT pg_notify(?, ?)", (ACTIVE_CHANNEL, version))

    async def wait_for_activation(self, timeout_s: float) -> None:
        """LISTEN on a connection of its own, opened on first use and again after an error (the
        caller's periodic check covers the moments without one)."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
                await self._listener.execute(f"LISTEN {ACTIVE_CHANNEL}")
            async for _ in self._listener.notifies(timeout=timeout_s, stop_after=1):
                pass
        except psycopg.Error:
            await self.stop_listening()
            await asyncio.sleep(timeout_s)

    async def stop_listening(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None


@contextmanager
def _unreachable_is_unavailable() -> Iterator[None]:
    """The database down or restarting: a 503 to retry, not a 500."""
    try:
        yield
    except psycopg.errors.DiskFull:
        raise  # the caller's to report (507), not a time to retry
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise BackendUnavailable(f"the database cannot be reached: {_first_line(exc)}") from exc


def _stored(db: Connection, sha256: str) -> bool:
    query = "SELECT 1 FROM blob_parts WHERE sha256 = ? AND part = 0"
    return db.execute(query, (sha256,)).fetchone() is not None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
