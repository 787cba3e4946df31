"""Sessions in a SQLite file in the data directory (`session_store = "local"`, the default):
shared by the workers of `lstm-serve serve --workers N` on one host, and kept across restarts.

One row per session: its kept state, its last use, and the lease a request holds on it
(`shared.py`). Triggers keep the count and bytes of kept states in `totals`, so a save checks
the budgets without walking the table. Sessions are short-lived, so the file is
`synchronous = NORMAL`: a power cut may lose the last steps, never the file.

Each call is one short transaction (tens of microseconds), tried first on the event loop with no
busy wait: a hop to a thread costs more than the transaction. When another process holds the
file's write lock, the call goes to a thread of its own that waits for it, so the event loop
never waits on another process. The event loop's connection never checkpoints the WAL (a
checkpoint writes the database file); the thread does, every CHECKPOINT_EVERY commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TypeVar

from app.core.errors import BackendUnavailable
from app.serving.sessions.base import Key, Usage
from app.serving.sessions.shared import Budget, Stored
from model.files import make_directories

T = TypeVar("T")


BUSY_TIMEOUT_S = 5  # the thread waits this long for another worker's write, then 503
CHECKPOINT_EVERY = 500  # commits on the event loop between two WAL checkpoints on the thread
SCHEMA_VERSION = 1  # PRAGMA user_version; a file of another version is rebuilt (states only)
SCHEMA = (
    """CREATE TABLE sessions (
        owner TEXT NOT NULL,  -- the inference key's fingerprint; '' when keys are off
        id TEXT NOT NULL,
        version TEXT,  -- the model version the session is pinned to; NULL until its first save
        state BLOB,  -- codec.encode_state
        nbytes INTEGER NOT NULL DEFAULT 0,  -- of the state as the budget counts it
        last_used REAL NOT NULL,
        lease_token TEXT,
        lease_expires REAL,
        PRIMARY KEY (owner, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX sessions_by_last_use ON sessions (last_used)",
    """CREATE TABLE totals (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        sessions INTEGER NOT NULL,  -- with a kept state
        nbytes INTEGER NOT NULL
    )""",
    "INSERT INTO totals VALUES (1, 0, 0)",
    """CREATE TRIGGER kept_added AFTER INSERT ON sessions WHEN NEW.state IS NOT NULL BEGIN
        UPDATE totals SET sessions = sessions + 1, nbytes = nbytes + NEW.nbytes;
    END""",
    """CREATE TRIGGER kept_removed AFTER DELETE ON sessions WHEN OLD.state IS NOT NULL BEGIN
        UPDATE totals SET sessions = sessions - 1, nbytes = nbytes - OLD.nbytes;
    END""",
    """CREATE TRIGGER kept_changed AFTER UPDATE OF state, nbytes ON sessions BEGIN
        UPDATE totals SET
            sessions = sessions + (NEW.state IS NOT NULL) - (OLD.state IS NOT NULL),
            nbytes = nbytes + NEW.nbytes - OLD.nbytes;
    END""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_KEY = "owner = ? AND id = ?"
_FREE = "(lease_token IS NULL OR lease_expires < ?)"  # no live lease at time ?


class SQLiteSessions:
    def __init__(self, path: Path) -> None:
        self.path = path
        make_directories(path.parent)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sessions-sqlite")
        self._waiting = _connect(path, BUSY_TIMEOUT_S)  # used on the thread only
        self._on_loop = _connect(path, 0)  # used on the event loop only: never waits
        self._on_loop.execute("PRAGMA wal_autocheckpoint = 0")
        self._commits = 0
        with _busy_is_unavailable():
            _transaction(self._waiting, _create_schema)

    def describe(self) -> str:
        return f"SQLite {self.path}"

    async def acquire(
        self, key: Key, token: str, now: float, lease_s: float, budget: Budget
    ) -> tuple[bool, Stored | None]:
        return await self._run(_acquire, _row_key(key), token, now, lease_s, budget)

    async def save(self, key: Key, token: str, stored: Stored, now: float, budget: Budget) -> bool:
        return await self._run(_save, _row_key(key), token, stored, now, budget)

    async def release(self, key: Key, token: str) -> None:
        await self._run(_release, _row_key(key), token)

    async def end(self, key: Key, token: str) -> None:
        await self._run(_end, _row_key(key), token)

    async def delete(self, key: Key, now: float, budget: Budget) -> bool:
        return await self._run(_delete, _row_key(key), now, budget)

    async def exists(self, key: Key, now: float, budget: Budget) -> bool:
        return await self._run(_exists, _row_key(key), now - budget.ttl_s)

    async def usage(self, now: float, budget: Budget) -> Usage:
        return await self._run(_usage, now, budget)

    async def close(self) -> None:
        self._on_loop.close()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._waiting.close)
        self._thread.shutdown()

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        """`work(db, *args)` in one IMMEDIATE transaction: on the event loop when the file is
        free, else (rolled back) again on the thread, which waits for it."""
        try:
            result = _transaction(self._on_loop, partial(work, *args))
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                _raise_unavailable_when_full(exc)
                raise
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._waiting_transaction, work, args)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            # Not awaited: the request that happened to be the 500th does not wait for it.
            asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)
        return result

    def _waiting_transaction(self, work: Callable[..., T], args: tuple[object, ...]) -> T:
        with _busy_is_unavailable():
            return _transaction(self._waiting, partial(work, *args))

    def _checkpoint(self) -> None:
        """Moves the WAL into the database file when no reader holds it back; a busy file is
        left for the next one."""
        with suppress(sqlite3.OperationalError):
            self._waiting.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    db = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    with _busy_is_unavailable():
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    return db


def _transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


# Each below runs inside a transaction, as `work(db)` with its arguments first.


def _create_schema(db: sqlite3.Connection) -> None:
    (found,) = db.execute("PRAGMA user_version").fetchone()
    if found == SCHEMA_VERSION:
        return
    # States only, and short-lived: a file of another version is rebuilt, not migrated.
    for table in ("sessions", "totals"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in SCHEMA:
        db.execute(statement)


def _expire(db: sqlite3.Connection, now: float, ttl_s: float) -> None:
    db.execute(f"DELETE FROM sessions WHERE last_used <= ? AND {_FREE}", (now - ttl_s, now))


def _acquire(
    key: tuple[str, str], token: str, now: float, lease_s: float, budget: Budget,
    db: sqlite3.Connection,
) -> tuple[bool, Stored | None]:  # fmt: skip
    _expire(db, now, budget.ttl_s)
    db.execute(
        "INSERT INTO sessions (owner, id, last_used, lease_token, lease_expires) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, id) DO UPDATE SET "
        "last_used = excluded.last_used, lease_token = excluded.lease_token, "
        "lease_expires = excluded.lease_expires "
        "WHERE sessions.lease_token IS NULL OR sessions.lease_expires < excluded.last_used",
        (*key, now, token, now + lease_s),
    )
    holder, version, state, nbytes = db.execute(
        f"SELECT lease_token, version, state, nbytes FROM sessions WHERE {_KEY}", key
    ).fetchone()
    if holder != token:
        return False, None
    return True, None if state is None else Stored(version, state, nbytes)


def _save(
    key: tuple[str, str], token: str, stored: Stored, now: float, budget: Budget,
    db: sqlite3.Connection,
) -> bool:  # fmt: skip
    saved = db.execute(
        "UPDATE sessions SET version = ?, state = ?, nbytes = ?, last_used = ?, "
        f"lease_token = NULL, lease_expires = NULL WHERE {_KEY} AND lease_token = ?",
        (stored.version, stored.state, stored.nbytes, now, *key, token),
    ).rowcount
    if saved:
        _evict(db, key, now, budget)
    return bool(saved)


def _evict(db: sqlite3.Connection, keep: tuple[str, str], now: float, budget: Budget) -> None:
    """Least recently used first; never `keep`, nor a session a request holds."""
    while True:
        sessions, nbytes = db.execute("SELECT sessions, nbytes FROM totals").fetchone()
        if sessions <= budget.max_sessions and nbytes <= budget.max_bytes:
            return
        victim = db.execute(
            f"SELECT owner, id FROM sessions WHERE state IS NOT NULL AND {_FREE} "
            "AND NOT (owner = ? AND id = ?) ORDER BY last_used LIMIT 1",
            (now, *keep),
        ).fetchone()
        if victim is None:  # the rest are held by running requests: over until they end
            return
        db.execute(f"DELETE FROM sessions WHERE {_KEY}", victim)


def _release(key: tuple[str, str], token: str, db: sqlite3.Connection) -> None:
    db.execute(
        f"DELETE FROM sessions WHERE {_KEY} AND lease_token = ? AND state IS NULL", (*key, token)
    )
    db.execute(
        f"UPDATE sessions SET lease_token = NULL, lease_expires = NULL "
        f"WHERE {_KEY} AND lease_token = ?",
        (*key, token),
    )


def _end(key: tuple[str, str], token: str, db: sqlite3.Connection) -> None:
    db.execute(f"DELETE FROM sessions WHERE {_KEY} AND lease_token = ?", (*key, token))


def _delete(key: tuple[str, str], now: float, budget: Budget, db: sqlite3.Connection) -> bool:
    _expire(db, now, budget.ttl_s)
    deleted = db.execute(f"DELETE FROM sessions WHERE {_KEY} AND state IS NOT NULL", key).rowcount
    return bool(deleted)


def _exists(key: tuple[str, str], idle_since: float, db: sqlite3.Connection) -> bool:
    found = db.execute(
        f"SELECT 1 FROM sessions WHERE {_KEY} AND state IS NOT NULL AND last_used > ?",
        (*key, idle_since),
    ).fetchone()
    return found is not None


def _usage(now: float, budget: Budget, db: sqlite3.Connection) -> Usage:
    _expire(db, now, budget.ttl_s)
    sessions, nbytes = db.execute("SELECT sessions, nbytes FROM totals").fetchone()
    return Usage(sessions, nbytes)


def _row_key(key: Key) -> tuple[str, str]:
    owner, session_id = key
    return owner or "", session_id


def _raise_unavailable_when_full(exc: sqlite3.OperationalError) -> None:
    if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
        raise BackendUnavailable(f"the session store is unavailable: {exc}") from exc


@contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """Another worker holding the file past the busy time-out, or a full disk, is a 503 to
    retry: the session is as it was."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise BackendUnavailable(f"the session store is busy: {exc}") from exc
        _raise_unavailable_when_full(exc)
        raise
