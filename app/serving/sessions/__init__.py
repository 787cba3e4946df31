"""Streaming sessions, after Triton's sequence batcher: the service keeps each session's final
LSTM state and starts the session's next request from it.

A session holds the state of B sequences, B fixed by its first request. It is pinned to the model
version it started on, so states are never mixed across versions. A session exists once a request
of it succeeded: a request that fails starts nothing and evicts nothing. Sessions end after
`ttl_seconds` idle, when over `max_sessions` or `max_bytes` of kept states (least recently used
first), on DELETE, or after a request that ends it (the Open Inference Protocol's sequence_end);
a /v1 request naming an ended session starts a new one (its response says `started`). With
inference keys, a session belongs to the key that started it: no other key can see, continue or
delete it. Two requests of one session run one after the other, wherever they arrive.

Where the states live (`session_store`, docs/scaling.md):
- `memory.py`: this process's memory; sessions are lost with it and not seen by other workers;
- `local.py`: a SQLite file in the data directory, shared by the workers of one host;
- `redis.py`: a Redis server, shared by replicas on many hosts.
The last two share `shared.py`: a lease on the session while a request of it runs, and a save
that only the lease's holder can make (a fencing token).

May import: app.core, app.serving.batch. Not FastAPI."""

from __future__ import annotations

import time
from pathlib import Path

from app.core.settings import Settings
from app.serving.sessions.base import Clock, Kept, Session, SessionStore
from app.serving.sessions.memory import MemorySessionStore

__all__ = ["Clock", "Kept", "MemorySessionStore", "Session", "SessionStore", "open_session_store"]

LOCAL_SESSIONS_FILE = "sessions.db"


def open_session_store(settings: Settings, clock: Clock = time.time) -> SessionStore:
    """The store `settings.session_store` names. `clock` must be wall-clock time for the shared
    stores: several processes compare their readings of it."""
    limits = (settings.session_ttl_seconds, settings.max_sessions, settings.max_session_bytes)
    if settings.session_store == "memory":
        return MemorySessionStore(*limits, clock=clock)
    from app.serving.sessions.shared import SessionBackend, SharedSessionStore

    backend: SessionBackend
    if settings.session_store == "local":
        from app.serving.sessions.local import SQLiteSessions

        backend = SQLiteSessions(Path(settings.data_dir) / LOCAL_SESSIONS_FILE)
    else:
        from app.serving.sessions.redis import RedisSessions

        backend = RedisSessions(settings.session_store)
    return SharedSessionStore(backend, *limits, clock=clock)
