"""Sessions in a SQLite file in the data directory (`session_store = "local"`, the default):
shared by the workers of `lstm-serve serve --workers N` on one host, and kept across restarts.

One row per session: its kept state, its last use, and the lease a request holds on it
(`shared.py`). Triggers keep the count and bytes of kept states in `totals`, so a save checks
the budgets without walking the table. Sessions are short-lived, so the file is
`synchronous = NORMAL`: a power cut may lose the last steps, never the file. Calls run on one
thread of their own, so a write waiting for another process's lock never blocks the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from app.core.errors import BackendUnavailable
from app.serving.sessions.base import Key, Usage
from app.serving.sessions.shared import Budget, Stored
from model.files import make_directories

T = TypeVar("T")


BUSY_TIMEOUT_S = 5  # another worker's write holds the file this long at most, or 503
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
        # One thread owns the connection: calls never overlap, and none runs on the event loop.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sessions-sqlite")
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        with _busy_is_unavailable():
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._create_schema()

    def describe(self) -> str:
        return f"SQLite {self.path}"

    async def acquire(
        self, key: Key, token: str, now: float, lease_s: float, budget: Budget
    ) -> tuple[bool, Stored | None]:
        return await self._run(self._acquire, _row_key(key), token, now, lease_s, budget)

    async def save(self, key: Key, token: str, stored: Stored, now: float, budget: Budget) -> bool:
        return await self._run(self._save, _row_key(key), token, stored, now, budget)

    async def release(self, key: Key, token: str) -> None:
        await self._run(self._release, _row_key(key), token)

    async def end(self, key: Key, token: str) -> None:
        await self._run(
            self._write,
            f"DELETE FROM sessions WHERE {_KEY} AND lease_token = ?",
            (*_row_key(key), token),
        )

    async def delete(self, key: Key, now: float, budget: Budget) -> bool:
        return await self._run(self._delete, _row_key(key), now, budget)

    async def exists(self, key: Key, now: float, budget: Budget) -> bool:
        return await self._run(self._exists, _row_key(key), now - budget.ttl_s)

    async def usage(self, now: float, budget: Budget) -> Usage:
        return await self._run(self._usage, now, budget)

    async def close(self) -> None:
        await self._run(self._db.close)
        self._thread.shutdown()

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, partial(_unavailable_on_busy, call, *args))

    # Below: on the store's thread.

    def _create_schema(self) -> None:
        def work() -> None:
            (found,) = self._db.execute("PRAGMA user_version").fetchone()
            if found == SCHEMA_VERSION:
                return
            # States only, and short-lived: a file of another version is rebuilt, not migrated.
            for table in ("sessions", "totals"):
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA:
                self._db.execute(statement)

        self._transaction(work)

    def _transaction(self, work: Callable[[], T]) -> T:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    def _expire(self, now: float, ttl_s: float) -> None:
        self._db.execute(
            f"DELETE FROM sessions WHERE last_used <= ? AND {_FREE}", (now - ttl_s, now)
        )

    def _acquire(
        self, key: tuple[str, str], token: str, now: float, lease_s: float, budget: Budget
    ) -> tuple[bool, Stored | None]:
        def work() -> tuple[bool, Stored | None]:
            self._expire(now, budget.ttl_s)
            self._db.execute(
                "INSERT INTO sessions (owner, id, last_used, lease_token, lease_expires) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, id) DO UPDATE SET "
                "last_used = excluded.last_used, lease_token = excluded.lease_token, "
                "lease_expires = excluded.lease_expires "
                "WHERE sessions.lease_token IS NULL OR sessions.lease_expires < excluded.last_used",
                (*key, now, token, now + lease_s),
            )
            holder, version, state, nbytes = self._db.execute(
                f"SELECT lease_token, version, state, nbytes FROM sessions WHERE {_KEY}", key
            ).fetchone()
            if holder != token:
                return False, None
            return True, None if state is None else Stored(version, state, nbytes)

        return self._transaction(work)

    def _save(
        self, key: tuple[str, str], token: str, stored: Stored, now: float, budget: Budget
    ) -> bool:
        def work() -> bool:
            saved = self._db.execute(
                "UPDATE sessions SET version = ?, state = ?, nbytes = ?, last_used = ?, "
                f"lease_token = NULL, lease_expires = NULL WHERE {_KEY} AND lease_token = ?",
                (stored.version, stored.state, stored.nbytes, now, *key, token),
            ).rowcount
            if saved:
                self._evict(key, now, budget)
            return bool(saved)

        return self._transaction(work)

    def _evict(self, keep: tuple[str, str], now: float, budget: Budget) -> None:
        """Least recently used first; never `keep`, nor a session a request holds."""
        while True:
            sessions, nbytes = self._db.execute("SELECT sessions, nbytes FROM totals").fetchone()
            if sessions <= budget.max_sessions and nbytes <= budget.max_bytes:
                return
            victim = self._db.execute(
                f"SELECT owner, id FROM sessions WHERE state IS NOT NULL AND {_FREE} "
                "AND NOT (owner = ? AND id = ?) ORDER BY last_used LIMIT 1",
                (now, *keep),
            ).fetchone()
            if victim is None:  # the rest are held by running requests: over until they end
                return
            self._db.execute(f"DELETE FROM sessions WHERE {_KEY}", victim)

    def _release(self, key: tuple[str, str], token: str) -> None:
        def work() -> None:
            self._db.execute(
                f"DELETE FROM sessions WHERE {_KEY} AND lease_token = ? AND state IS NULL",
                (*key, token),
            )
            self._db.execute(
                "UPDATE sessions SET lease_token = NULL, lease_expires = NULL "
                f"WHERE {_KEY} AND lease_token = ?",
                (*key, token),
            )

        self._transaction(work)

    def _delete(self, key: tuple[str, str], now: float, budget: Budget) -> bool:
        def work() -> bool:
            self._expire(now, budget.ttl_s)
            deleted = self._db.execute(
                f"DELETE FROM sessions WHERE {_KEY} AND state IS NOT NULL", key
            ).rowcount
            return bool(deleted)

        return self._transaction(work)

    def _exists(self, key: tuple[str, str], idle_since: float) -> bool:
        found = self._db.execute(
            f"SELECT 1 FROM sessions WHERE {_KEY} AND state IS NOT NULL AND last_used > ?",
            (*key, idle_since),
        ).fetchone()
        return found is not None

    def _usage(self, now: float, budget: Budget) -> Usage:
        def work() -> Usage:
            self._expire(now, budget.ttl_s)
            sessions, nbytes = self._db.execute("SELECT sessions, nbytes FROM totals").fetchone()
            return Usage(sessions, nbytes)

        return self._transaction(work)

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        self._db.execute(statement, parameters)


def _row_key(key: Key) -> tuple[str, str]:
    owner, session_id = key
    return owner or "", session_id


def _unavailable_on_busy(call: Callable[..., T], *args: object) -> T:
    with _busy_is_unavailable():
        return call(*args)


@contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """Another worker holding the file past the busy time-out, or a full disk, is a 503 to
    retry: the session is as it was."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode not in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
            sqlite3.SQLITE_FULL,
        ):
            raise
        raise BackendUnavailable(f"the session store is unavailable: {exc}") from exc
