"""What the stores see of either engine: `Database` (connections, write transactions, the files
it holds) and `Connection` (queries with `?` placeholders)."""

from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from app.core.errors import StartupError

logger = logging.getLogger(__name__)

Engine = Literal["sqlite", "postgresql"]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection:
    """One engine connection, for one operation or transaction. The SQL is the same for both
    engines; `?` placeholders become psycopg's `%s`."""

    def __init__(self, raw: Any, engine: Engine) -> None:
        self.raw = raw
        self.engine = engine

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        if self.engine == "postgresql":
            sql = sql.replace("?", "%s")
        cursor: Cursor = self.raw.execute(sql, tuple(args))
        return cursor

    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows as {column: value}."""
        cursor = self.raw.cursor()
        if self.engine == "postgresql":
            sql = sql.replace("?", "%s")
        cursor.execute(sql, tuple(args))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Database(ABC):
    engine: ClassVar[Engine]
    # Appended to the SELECT that claims a queued job: concurrent claimers skip each other's
    # row instead of waiting (PostgreSQL); SQLite's single writer needs nothing.
    skip_locked: ClassVar[str] = ""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @abstractmethod
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection for reads (each statement commits on its own)."""

    @abstractmethod
    def transaction(self, serialized: bool = True) -> AbstractContextManager[Connection]:
        """A write transaction, committed on exit, rolled back on an exception. `serialized`:
        one at a time across every process (a check-then-write such as a quota or the next
        version number); False for one that locks the rows it needs itself."""

    @abstractmethod
    def describe(self) -> str:
        """Where the database is, for logs: never a password."""

    @abstractmethod
    def store_file(self, db: Connection, path: Path, sha256: str) -> None:
        """Inside the transaction that registers `path` (a file in the data directory): make
        it reachable from every replica."""

    @abstractmethod
    def forget_file(self, db: Connection, sha256: str, column: str) -> None:
        """Inside the transaction that stops naming it in jobs.`column`: drop the shared copy
        of a file no job names there any more."""

    @abstractmethod
    def local_file(self, path: Path, sha256: str) -> Path:
        """`path` in this replica's data directory, holding the file whose content is `sha256`
        (fetched from the database on first use where the database holds the files)."""

    @abstractmethod
    def notify_active(self, db: Connection, version: str) -> None:
        """Inside the transaction that sets the active version: tell every replica now."""

    @abstractmethod
    async def wait_for_activation(self, timeout_s: float) -> None:
        """Return after `timeout_s`, or sooner when another process announced an activation."""

    @abstractmethod
    async def stop_listening(self) -> None:
        """Close what `wait_for_activation` opened."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""

    def migrate(self) -> None:
        """Apply the schema files this database lacks, in order, one transaction each; refuse a
        database whose schema is newer than this version of the service knows."""
        known = migrations(self.engine)
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0])
            if current > len(known):
                raise StartupError(
                    f"{self.describe()}: its schema is version {current}, newer than the "
                    f"{len(known)} this version of lstm-serve knows; upgrade lstm-serve"
                )
            for version, (name, sql) in enumerate(known, start=1):
                if version <= current:
                    continue
                for statement in statements(sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) "
                    "VALUES (?, ?, CURRENT_TIMESTAMP)",
                    (version, name),
                )
                # A new database is no news; an upgrade of one in use is, for the operator.
                level = logging.INFO if current else logging.DEBUG
                logger.log(level, "%s: schema at version %d (%s)", self.describe(), version, name)


def migrations(engine: Engine) -> list[tuple[str, str]]:
    """(name, SQL) of each schema file of `engine`, in order: 001_..., 002_..."""
    folder = files("app.core.database").joinpath("schema", engine)
    named = sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    return [(name.removesuffix(".sql"), sql) for name, sql in named]


def statements(sql: str) -> list[str]:
    """A schema file's statements: each ends with `;` at the end of a line (comments after
    `--` dropped first, so a `;` inside one does not split)."""
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    text = "\n".join(line for line in lines if line)
    parts = (part.strip().rstrip(";") for part in text.split(";\n"))
    return [part for part in parts if part]


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error means the disk under it is full."""
    if isinstance(exc, sqlite3.OperationalError):
        return exc.sqlite_errorcode == sqlite3.SQLITE_FULL
    return type(exc).__name__ == "DiskFull"  # psycopg.errors.DiskFull, not imported here
