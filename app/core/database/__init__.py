"""The service's database, one of two engines chosen by `database_url`:

- SQLite (the default): `<data_dir>/lstm-serve.db` in WAL mode, shared by the server processes
  of one host and their training workers; the files it names (checkpoints, job data, data sets)
  live in the data directory beside it.
- PostgreSQL (`postgresql://...`): one database shared by replicas on many hosts. It also holds
  those files, content-addressed by sha256, in parts (`blob_parts`); each replica's data
  directory is a cache of them, filled on first use.

The stores (models, jobs, data sets) write one SQL for both, with `?` placeholders, through
`Connection`. The schema is versioned (`schema/<engine>/NNN_*.sql`) and migrated at start-up.
"""

from __future__ import annotations

from pathlib import Path

from app.core.database.base import Connection, Database, is_disk_full
from app.core.database.sqlite import DATABASE_NAME, SQLiteDatabase

__all__ = [
    "DATABASE_NAME",
    "DATABASE_URL_VARIABLE",
    "Connection",
    "Database",
    "is_disk_full",
    "open_database",
]
# The setting's environment variable: how a training worker finds its server's database.
DATABASE_URL_VARIABLE = "LSTM_SERVE_DATABASE_URL"


def open_database(data_dir: Path, url: str | None = None) -> Database:
    """The database named by `url` (None: SQLite in `data_dir`), migrated to this version's
    schema. StartupError when it cannot be opened or its schema is newer than this version's."""
    if url is None or url.startswith("sqlite:"):
        path = data_dir / DATABASE_NAME if url is None else Path(url.removeprefix("sqlite:///"))
        return SQLiteDatabase(data_dir, path)
    # psycopg is imported only when PostgreSQL is used.
    from app.core.database.postgres import PostgresDatabase

    return PostgresDatabase(data_dir, url)
