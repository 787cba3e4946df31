"""Streaming sessions, after Triton's sequence batcher: the server keeps each session's final
LSTM state and starts the session's next request from it.

A session holds the state of B sequences, B fixed by its first request. It is pinned to the model
version it started on, so states are never mixed across versions. Sessions end after
`ttl_seconds` idle, when over `max_sessions` (least recently used first), on DELETE, or after a
request that ends it (the Open Inference Protocol's sequence_end); a /v1 request naming an ended
session starts a new one (its response says `started`). Used from the event loop only, so the
table needs no lock; each session has its own, so two requests of one session run one after the
other."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from app.core.errors import UnknownSession
from app.serving.batch import LSTMState

Clock = Callable[[], float]


class Kept(NamedTuple):
    version: str  # the model version the session is pinned to
    state: LSTMState  # after its last request


@dataclass(eq=False)
class Session:
    id: str
    last_used: float
    kept: Kept | None = None  # None until a request of the session succeeds
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: bool = False  # deleted or ended: never saved again, waiters move to a new session


class SessionStore:
    def __init__(self, ttl_seconds: float, max_sessions: int, clock: Clock = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    def __contains__(self, session_id: str) -> bool:
        self._expire()
        return session_id in self._sessions

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[Session]:
        """The session under its lock; a new one when unknown. A session whose first request
        failed is forgotten, so a failed start leaves nothing behind."""
        while True:
            session = self._touch(session_id)
            async with session.lock:
                if session.ended:  # ended while this request waited: start over on a new one
                    continue
                try:
                    yield session
                finally:
                    if session.kept is None and self._sessions.get(session_id) is session:
                        del self._sessions[session_id]
                return

    def save(self, session: Session, version: str, state: LSTMState) -> None:
        if session.ended:  # DELETE came while the request ran: it answers, nothing is kept
            return
        session.kept = Kept(version, state)
        session.last_used = self._clock()
        # Put back too: the session may have been evicted while its request ran.
        self._sessions[session.id] = session
        self._sessions.move_to_end(session.id)
        self._evict()

    def end(self, session: Session) -> None:
        """Forget a session, after its last request or on DELETE; a request still waiting on its
        lock starts a new session of the same id, and one still running keeps nothing."""
        session.ended, session.kept = True, None
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]

    def delete(self, session_id: str) -> None:
        self._expire()
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no session {session_id!r}", ("session_id",))
        self.end(session)

    def _touch(self, session_id: str) -> Session:
        self._expire()
        now = self._clock()
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = Session(session_id, now)
            self._evict()
        session.last_used = now
        self._sessions.move_to_end(session_id)
        return session

    def _expire(self) -> None:
        deadline = self._clock() - self.ttl_seconds
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.last_used > deadline:
                break
            del self._sessions[oldest.id]

    def _evict(self) -> None:
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
