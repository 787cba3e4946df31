"""Sessions in this process's memory (`session_store = "memory"`): the fastest store, for one
server process; another worker does not see them and a restart loses them. Used from the event
loop only, so the table needs no lock; each session has its own, so two requests of one session
run one after the other."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from app.core.errors import UnknownSession
from app.core.inference_keys import Owner
from app.serving.sessions.base import Clock, Kept, Key, Session, SessionStore, Usage
from model.inference import State


@dataclass(eq=False)
class MemorySession(Session):
    last_used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MemorySessionStore(SessionStore):
    def __init__(
        self,
        ttl_seconds: float,
        max_sessions: int,
        max_bytes: int,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(ttl_seconds, max_sessions, max_bytes)
        self._clock = clock
        # Least recently used first. Also holds the sessions whose first request is running
        # (kept None), so that a second request of the same id waits on the same lock.
        self._sessions: OrderedDict[Key, MemorySession] = OrderedDict()
        self._kept = 0  # sessions with a kept state
        self._bytes = 0  # their states' bytes

    def describe(self) -> str:
        return "this process's memory"

    async def close(self) -> None:
        self._sessions.clear()

    async def usage(self) -> Usage:
        self._expire()
        return Usage(self._kept, self._bytes)

    async def exists(self, session_id: str, owner: Owner = None) -> bool:
        self._expire()
        session = self._sessions.get((owner, session_id))
        return session is not None and session.kept is not None

    @asynccontextmanager
    async def hold(self, session_id: str, owner: Owner = None) -> AsyncIterator[Session]:
        while True:
            session = self._touch((owner, session_id))
            async with session.lock:
                if session.ended:  # ended while this request waited: start over on a new one
                    continue
                try:
                    yield session
                finally:
                    if session.kept is None and self._sessions.get(session.key) is session:
                        del self._sessions[session.key]
                return

    async def save(self, session: Session, version: str, state: State) -> None:
        assert isinstance(session, MemorySession)
        if session.ended:  # DELETE came while the request ran: it answers, nothing is kept
            return
        kept = Kept(version, state)
        self.check_fits(kept.nbytes)
        self._forget(session)  # its old state's share, if it had one
        session.kept = kept
        session.last_used = self._clock()
        self._kept += 1
        self._bytes += kept.nbytes
        # Put back too: the session may have been evicted while its request ran.
        self._sessions[session.key] = session
        self._sessions.move_to_end(session.key)
        self._evict(keep=session)

    async def end(self, session: Session) -> None:
        """A request still waiting on its lock starts a new session of the same id, and one
        still running keeps nothing."""
        assert isinstance(session, MemorySession)
        self._forget(session)
        session.ended = True
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]

    async def delete(self, session_id: str, owner: Owner = None) -> None:
        self._expire()
        session = self._sessions.get((owner, session_id))
        if session is None or session.kept is None:
            raise UnknownSession(f"no session {session_id!r}", ("session_id",))
        await self.end(session)

    def _touch(self, key: Key) -> MemorySession:
        self._expire()
        now = self._clock()
        session = self._sessions.get(key)
        if session is None:
            owner, session_id = key
            session = self._sessions[key] = MemorySession(session_id, owner, last_used=now)
        session.last_used = now
        self._sessions.move_to_end(key)
        return session

    def _forget(self, session: Session) -> None:
        """Take the session's kept state out of the counts (it stays in the table)."""
        if session.kept is not None:
            self._kept -= 1
            self._bytes -= session.kept.nbytes
            session.kept = None

    def _expire(self) -> None:
        deadline = self._clock() - self.ttl_seconds
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.last_used > deadline:
                break
            self._forget(oldest)
            del self._sessions[oldest.key]

    def _evict(self, keep: Session) -> None:
        """Least recently used kept sessions first, never `keep` nor a session still starting.
        Within budget (the usual case) this costs nothing: no walk over the table."""
        while self._kept > self.max_sessions or self._bytes > self.max_bytes:
            # `keep` alone always fits (check_fits), so another kept session is there to go.
            victim = next(
                session
                for session in self._sessions.values()
                if session is not keep and session.kept is not None
            )
            self._forget(victim)
            del self._sessions[victim.key]
