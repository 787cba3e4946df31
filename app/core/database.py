"""The one SQLite database of a data directory, `<data_dir>/lstm-serve.db` in WAL mode, shared by
the model store, the job store and the data sets, and by the server and its training workers
(each process opens its own connections)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from app.core.errors import StartupError
from model.files import make_directories

DATABASE_NAME = "lstm-serve.db"


class Database:
    def __init__(self, data_dir: Path, schema: str) -> None:
        """Open (creating when needed) the database and apply `schema` (CREATE ... IF NOT
        EXISTS statements). Raises StartupError naming the file when it is not a database."""
        self.path = data_dir / DATABASE_NAME
        make_directories(data_dir)
        try:
            with self.connect() as db:
                # WAL lets readers (the server) and a writer (a training worker) work at once.
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(schema)
        except sqlite3.DatabaseError as exc:
            raise StartupError(f"{self.path}: {exc}") from exc

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection per operation: the stores are used from several threads."""
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            # FULL: a committed transaction survives a power cut, not only a process crash.
            db.execute("PRAGMA synchronous = FULL")
            yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock first, so two writers never read-then-write
        past each other (two importers picking one version number, say)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
