"""Streaming sessions, after Triton's sequence batcher: the server keeps each session's final
LSTM state and starts the session's next request from it.

A session holds the state of B sequences, B fixed by its first request. It is pinned to the model
version it started on, so states are never mixed across versions. A session exists once a request
of it succeeded: a request that fails starts nothing and evicts nothing. Sessions end after
`ttl_seconds` idle, when over `max_sessions` or `max_bytes` of kept states (least recently used
first), on DELETE, or after a request that ends it (the Open Inference Protocol's sequence_end);
a /v1 request naming an ended session starts a new one (its response says `started`).

With inference keys, a session belongs to the key that started it: each key has its own table of
session ids, so no other key can see, continue or delete it. Used from the event loop only, so
the table needs no lock; each session has its own, so two requests of one session run one after
the other."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from app.core.errors import SessionsFull, UnknownSession
from app.core.inference_keys import Owner
from app.serving.batch import LSTMState

Clock = Callable[[], float]
Key = tuple[Owner, str]  # (owner, session id)


class Kept(NamedTuple):
    version: str  # the model version the session is pinned to
    state: LSTMState  # after its last request

    @property
    def nbytes(self) -> int:
        return state_bytes(self.state)


def state_bytes(state: LSTMState) -> int:
    return int(state[0].nbytes + state[1].nbytes)


@dataclass(eq=False)
class Session:
    id: str
    owner: Owner
    last_used: float
    kept: Kept | None = None  # None until a request of the session succeeds
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: bool = False  # deleted or ended: never saved again, waiters move to a new session

    @property
    def key(self) -> Key:
        return self.owner, self.id


class SessionStore:
    def __init__(
        self,
        ttl_seconds: float,
        max_sessions: int,
        max_bytes: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self._clock = clock
        # Least recently used first. Also holds the sessions whose first request is running
        # (kept None), so that a second request of the same id waits on the same lock.
        self._sessions: OrderedDict[Key, Session] = OrderedDict()
        self._kept = 0  # sessions with a kept state
        self._bytes = 0  # their states' bytes

    def __len__(self) -> int:
        self._expire()
        return self._kept

    @property
    def nbytes(self) -> int:
        """The bytes of every kept state."""
        self._expire()
        return self._bytes

    def __contains__(self, session_id: str) -> bool:
        return self.exists(session_id, None)

    def exists(self, session_id: str, owner: Owner) -> bool:
        self._expire()
        session = self._sessions.get((owner, session_id))
        return session is not None and session.kept is not None

    def check_fits(self, nbytes: int) -> None:
        """SessionsFull (429) when a state of `nbytes` could never be kept."""
        if nbytes > self.max_bytes:
            raise SessionsFull(
                f"the session's state takes {nbytes} bytes; sessions may hold "
                f"{self.max_bytes} bytes in all: send fewer sequences per session",
                ("inputs",),
            )

    @asynccontextmanager
    async def hold(self, session_id: str, owner: Owner = None) -> AsyncIterator[Session]:
        """The session under its lock; a new one when unknown. A session whose first request
        failed is forgotten, so a failed start leaves nothing behind."""
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

    def save(self, session: Session, version: str, state: LSTMState) -> None:
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

    def end(self, session: Session) -> None:
        """Forget a session, after its last request or on DELETE; a request still waiting on its
        lock starts a new session of the same id, and one still running keeps nothing."""
        self._forget(session)
        session.ended = True
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]

    def delete(self, session_id: str, owner: Owner = None) -> None:
        self._expire()
        session = self._sessions.get((owner, session_id))
        if session is None or session.kept is None:
            raise UnknownSession(f"no session {session_id!r}", ("session_id",))
        self.end(session)

    def _touch(self, key: Key) -> Session:
        self._expire()
        now = self._clock()
        session = self._sessions.get(key)
        if session is None:
            owner, session_id = key
            session = self._sessions[key] = Session(session_id, owner, now)
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
