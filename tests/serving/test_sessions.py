"""SessionStore on its own: expiry, eviction order, and what a failed start leaves."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.core.errors import SessionsFull, UnknownSession
from app.serving.sessions import SessionStore
from tests.support.inprocess import FakeClock

pytestmark = pytest.mark.anyio

MEGABYTE = 1 << 20
STATE = (np.zeros((1, 1, 2), np.float32), np.ones((1, 1, 2), np.float32))


async def start(store: SessionStore, session_id: str, version: str = "1") -> None:
    async with store.hold(session_id) as session:
        store.save(session, version, STATE)


async def test_idle_sessions_expire(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE, clock=clock)
    await start(store, "a")
    clock.advance(5)
    await start(store, "b")
    clock.advance(6)  # a idle 11 s, b idle 6 s
    assert "a" not in store and "b" in store
    clock.advance(4)
    assert len(store) == 0


async def test_use_refreshes_and_keeps_state_and_version(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE, clock=clock)
    await start(store, "a", version="7")
    clock.advance(9)
    async with store.hold("a") as session:
        assert session.kept is not None and session.kept.version == "7"
        np.testing.assert_array_equal(session.kept.state[1], STATE[1])
    clock.advance(9)
    assert "a" in store


async def test_cap_evicts_least_recently_used(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE, clock=clock)
    await start(store, "a")
    await start(store, "b")
    async with store.hold("a"):
        pass
    await start(store, "c")
    assert ("a" in store, "b" in store, "c" in store) == (True, False, True)


async def test_failed_start_is_forgotten_but_a_started_session_is_kept(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE, clock=clock)
    with pytest.raises(RuntimeError):
        async with store.hold("new"):
            raise RuntimeError("model call failed")
    assert "new" not in store
    await start(store, "old")
    with pytest.raises(RuntimeError):
        async with store.hold("old"):
            raise RuntimeError("model call failed")
    assert "old" in store


async def test_session_evicted_while_running_is_put_back_on_save(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=1, max_bytes=MEGABYTE, clock=clock)
    async with store.hold("a") as session:
        await start(store, "b")  # evicts a, which is still running
        assert "a" not in store
        store.save(session, "1", STATE)
    assert "a" in store and "b" not in store


async def test_delete_unknown_session_raises(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE, clock=clock)
    with pytest.raises(UnknownSession):
        store.delete("nope")
    await start(store, "a")
    store.delete("a")
    assert "a" not in store


async def test_delete_while_a_request_runs_keeps_nothing_and_waiters_start_anew(
    clock: FakeClock,
) -> None:
    store = SessionStore(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE, clock=clock)
    await start(store, "a")
    running = store.hold("a")
    session = await running.__aenter__()  # a request of "a" is running
    waiter = asyncio.create_task(_kept_version_seen_by_next_request(store, "a"))
    await asyncio.sleep(0)  # the next request now waits on the session's lock
    store.delete("a")
    store.save(session, "9", STATE)  # the running request finishes after the DELETE
    await running.__aexit__(None, None, None)
    assert await waiter is None  # it started a new session, not the deleted one's state
    assert "a" not in store  # and, having saved nothing, left nothing behind


async def _kept_version_seen_by_next_request(store: SessionStore, session_id: str) -> str | None:
    async with store.hold(session_id) as session:
        return None if session.kept is None else session.kept.version


async def test_bytes_budget_evicts_least_recently_used_and_refuses_what_never_fits(
    clock: FakeClock,
) -> None:
    per_session = STATE[0].nbytes + STATE[1].nbytes  # 16 bytes
    store = SessionStore(ttl_seconds=100, max_sessions=10, max_bytes=2 * per_session, clock=clock)
    for name in ("a", "b", "c"):
        await start(store, name)
    assert ("a" in store, "b" in store, "c" in store) == (False, True, True)
    assert store.nbytes == 2 * per_session and len(store) == 2
    big = (np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 2), np.float32))  # 48 bytes
    with pytest.raises(SessionsFull):
        store.check_fits(big[0].nbytes + big[1].nbytes)
    with pytest.raises(SessionsFull):
        async with store.hold("d") as session:
            store.save(session, "1", big)
    assert "d" not in store and ("b" in store, "c" in store) == (True, True)


async def test_failing_requests_under_new_ids_evict_nothing(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE, clock=clock)
    await start(store, "a")
    await start(store, "b")
    for n in range(50):  # a flood of requests that fail validation, each under a new id
        with pytest.raises(ValueError):
            async with store.hold(f"attacker-{n}"):
                raise ValueError("invalid input")
    assert ("a" in store, "b" in store, len(store)) == (True, True, 2)


async def test_each_owner_has_its_own_sessions(clock: FakeClock) -> None:
    store = SessionStore(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE, clock=clock)
    async with store.hold("s", owner="alice") as session:
        store.save(session, "1", STATE)
    assert store.exists("s", "alice") and not store.exists("s", "bob") and "s" not in store
    with pytest.raises(UnknownSession):
        store.delete("s", owner="bob")
    async with store.hold("s", owner="bob") as session:
        assert session.kept is None  # bob's "s" is a new session, not alice's
    store.delete("s", owner="alice")
    assert not store.exists("s", "alice")
