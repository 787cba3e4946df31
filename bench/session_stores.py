"""The cost of one session step in each session store: a request's hold (the lease and the kept
state) and its save, for the classic model's state (2 layers, 1 sequence, hidden 20), over 100
sessions in turn. Microseconds per step, the median of 5 rounds; run alone with
`python bench/session_stores.py REDIS_URL`, or by `make bench` beside its Redis."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.serving.sessions import MemorySessionStore, SessionStore
from app.serving.sessions.local import SQLiteSessions
from app.serving.sessions.redis import RedisSessions
from app.serving.sessions.shared import SharedSessionStore

SESSIONS = 100
STEPS = 2000  # per round
ROUNDS = 5
STATE = (np.zeros((2, 1, 20), np.float32), np.zeros((2, 1, 20), np.float32))
BUDGET = (600.0, 10_000, 256 << 20)  # the defaults: TTL, sessions, bytes


async def _round(store: SessionStore) -> float:
    start = time.perf_counter()
    for step in range(STEPS):
        async with store.hold(f"s{step % SESSIONS}") as session:
            await store.save(session, "1", STATE)
    return (time.perf_counter() - start) / STEPS * 1e6


async def _microseconds(store: SessionStore) -> float:
    await _round(store)  # warm-up: every session exists from here on
    rounds = [await _round(store) for _ in range(ROUNDS)]
    await store.close()
    return statistics.median(rounds)


async def measure(redis_url: str) -> dict[str, float]:
    """{store: µs per step}, the store's own cost (no HTTP, no model)."""
    with tempfile.TemporaryDirectory() as directory:
        return {
            "memory": await _microseconds(MemorySessionStore(*BUDGET, clock=time.time)),
            "local": await _microseconds(
                SharedSessionStore(SQLiteSessions(Path(directory) / "s.db"), *BUDGET, time.time)
            ),
            "redis": await _microseconds(
                SharedSessionStore(RedisSessions(redis_url), *BUDGET, time.time)
            ),
        }


if __name__ == "__main__":
    print(asyncio.run(measure(sys.argv[1])))
