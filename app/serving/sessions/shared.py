"""Sessions in a store that several processes share (`local.py`, `redis.py`).

A request of a session takes a lease on it, with a random token, before it reads the kept state;
a request of the same session elsewhere waits until the lease is let go (or runs out: its holder
died). Only the lease's holder can save, and saving lets go of the lease: a save after DELETE,
or after the lease ran out and another request took it, keeps nothing (fencing). In this process
a second request of a session waits on an asyncio lock first, so only requests from other
processes ever poll."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from app.core.errors import UnknownSession
from app.core.inference_keys import Owner
from app.serving.sessions.base import Clock, Kept, Key, Session, SessionStore, Usage
from app.serving.sessions.codec import decode_state, encode_state
from model.inference import State

# A request holds its session this long at most before another may take it: far above any
# request's run (the batcher answers or refuses within seconds), so only a dead holder's lease
# runs out.
LEASE_S = 30.0
# Polling for a session that a request in another process holds: from 0.5 ms, doubling to 20 ms.
FIRST_POLL_S = 0.0005
LAST_POLL_S = 0.02


class Stored(NamedTuple):
    version: str
    state: bytes  # codec.encode_state
    nbytes: int  # h and c as the budget counts them (Kept.nbytes)


class Budget(NamedTuple):
    ttl_s: float
    max_sessions: int
    max_bytes: int


class SessionBackend(Protocol):
    """One shared store. `now` is wall-clock seconds; a backend expires sessions idle for
    `budget.ttl_s` whenever it is used, and evicts over the budget when saving, never a session
    whose lease is held."""

    async def acquire(
        self, key: Key, token: str, now: float, lease_s: float, budget: Budget
    ) -> tuple[bool, Stored | None]:
        """Take the lease when free or run out, refreshing the session's last use: (True, its
        kept state or None); (False, None) while another holds it."""

    async def save(self, key: Key, token: str, stored: Stored, now: float, budget: Budget) -> bool:
        """Keep `stored` and let go of the lease, when `token` still holds it."""

    async def release(self, key: Key, token: str) -> None:
        """Let go of the lease without saving; a session never saved is forgotten."""

    async def end(self, key: Key, token: str) -> None:
        """Forget the session, when `token` holds its lease."""

    async def delete(self, key: Key, now: float, budget: Budget) -> bool:
        """Forget a session that has a kept state, breaking any lease; False when none."""

    async def exists(self, key: Key, now: float, budget: Budget) -> bool: ...

    async def usage(self, now: float, budget: Budget) -> Usage: ...

    def describe(self) -> str: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class LeasedSession(Session):
    token: str = ""  # the lease's
    released: bool = False  # saved or ended: the lease is let go


class _LocalLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class SharedSessionStore(SessionStore):
    def __init__(
        self,
        backend: SessionBackend,
        ttl_seconds: float,
        max_sessions: int,
        max_bytes: int,
        clock: Clock,
        lease_s: float = LEASE_S,
    ) -> None:
        super().__init__(ttl_seconds, max_sessions, max_bytes)
        self.backend = backend
        self._clock = clock
        self._lease_s = lease_s
        self._budget = Budget(ttl_seconds, max_sessions, max_bytes)
        self._local: dict[Key, _LocalLock] = {}  # sessions with a request in this process

    def describe(self) -> str:
        return self.backend.describe()

    async def usage(self) -> Usage:
        return await self.backend.usage(self._clock(), self._budget)

    async def exists(self, session_id: str, owner: Owner = None) -> bool:
        return await self.backend.exists((owner, session_id), self._clock(), self._budget)

    @asynccontextmanager
    async def hold(self, session_id: str, owner: Owner = None) -> AsyncIterator[Session]:
        key: Key = (owner, session_id)
        local = self._local.get(key) or self._local.setdefault(key, _LocalLock())
        local.users += 1
        try:
            async with local.lock:
                token = secrets.token_hex(16)
                stored = await self._acquire(key, token)
                kept = None if stored is None else Kept(stored.version, decode_state(stored.state))
                session = LeasedSession(session_id, owner, kept, token=token)
                try:
                    yield session
                finally:
                    if not session.released:
                        # Shielded: a cancelled request still lets go, or the next waits out
                        # the lease.
                        await asyncio.shield(self.backend.release(key, token))
        finally:
            local.users -= 1
            if local.users == 0:
                del self._local[key]

    async def save(self, session: Session, version: str, state: State) -> None:
        assert isinstance(session, LeasedSession)
        kept = Kept(version, state)
        self.check_fits(kept.nbytes)
        stored = Stored(version, encode_state(state), kept.nbytes)
        await self.backend.save(session.key, session.token, stored, self._clock(), self._budget)
        # The lease is let go either way: a save that fencing refused keeps nothing.
        session.released = True

    async def end(self, session: Session) -> None:
        assert isinstance(session, LeasedSession)
        session.ended = session.released = True
        await self.backend.end(session.key, session.token)

    async def delete(self, session_id: str, owner: Owner = None) -> None:
        if not await self.backend.delete((owner, session_id), self._clock(), self._budget):
            raise UnknownSession(f"no session {session_id!r}", ("session_id",))

    async def close(self) -> None:
        await self.backend.close()

    async def _acquire(self, key: Key, token: str) -> Stored | None:
        delay = FIRST_POLL_S
        while True:
            acquired, stored = await self.backend.acquire(
                key, token, self._clock(), self._lease_s, self._budget
            )
            if acquired:
                return stored
            await asyncio.sleep(delay)
            delay = min(2 * delay, LAST_POLL_S)
