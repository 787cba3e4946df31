"""The session stores on their own, each against the same rules: expiry, eviction order, what a
failed start leaves, DELETE, owners. The shared stores (a SQLite file, a real Redis server) also:
two processes' stores over one place continue each other's sessions, hold them one at a time,
and fence out a holder whose lease ran out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import BackendUnavailable, SessionsFull, UnknownSession
from app.serving.sessions import MemorySessionStore, SessionStore
from app.serving.sessions.codec import decode_state, encode_state
from app.serving.sessions.local import SQLiteSessions
from app.serving.sessions.redis import RedisSessions
from app.serving.sessions.shared import SessionBackend, SharedSessionStore
from tests.support.inprocess import FakeClock
from tests.support.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.anyio

MEGABYTE = 1 << 20
STATE = (np.zeros((1, 1, 2), np.float32), np.ones((1, 1, 2), np.float32))
STORES = ["memory", "local", "redis"]
SHARED = ["local", "redis"]

MakeStore = Callable[..., SessionStore]


@pytest.fixture
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[MakeStore]:
    """make_store(ttl_seconds, max_sessions, max_bytes, lease_s=30): a store of the kind the
    test is parametrised with; every store it makes for one test shares one place, as the
    workers of one service do."""
    kind: str = request.param
    made: list[SessionStore] = []
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client().flushdb()

    def backend() -> SessionBackend:
        if kind == "local":
            return SQLiteSessions(tmp_path / "sessions.db")
        return RedisSessions(server.url)

    def make(
        ttl_seconds: float, max_sessions: int, max_bytes: int, lease_s: float = 30
    ) -> SessionStore:
        store: SessionStore
        if kind == "memory":
            store = MemorySessionStore(ttl_seconds, max_sessions, max_bytes, clock=clock)
        else:
            store = SharedSessionStore(
                backend(), ttl_seconds, max_sessions, max_bytes, clock=clock, lease_s=lease_s
            )
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


def stores(kinds: list[str]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("make_store", kinds, indirect=True)


async def start(store: SessionStore, session_id: str, version: str = "1") -> None:
    async with store.hold(session_id) as session:
        await store.save(session, version, STATE)


async def kept(store: SessionStore, *session_ids: str) -> tuple[bool, ...]:
    return tuple([await store.exists(session_id) for session_id in session_ids])


@stores(STORES)
async def test_idle_sessions_expire(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE)
    await start(store, "a")
    clock.advance(5)
    await start(store, "b")
    clock.advance(6)  # a idle 11 s, b idle 6 s
    assert await kept(store, "a", "b") == (False, True)
    clock.advance(4)
    assert (await store.usage()).sessions == 0


@stores(STORES)
async def test_use_refreshes_and_keeps_state_and_version(
    make_store: MakeStore, clock: FakeClock
) -> None:
    store = make_store(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE)
    await start(store, "a", version="7")
    clock.advance(9)
    async with store.hold("a") as session:
        assert session.kept is not None and session.kept.version == "7"
        np.testing.assert_array_equal(session.kept.state[1], STATE[1])
    clock.advance(9)
    assert await store.exists("a")


@stores(STORES)
async def test_cap_evicts_least_recently_used(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE)
    await start(store, "a")
    await start(store, "b")
    async with store.hold("a"):
        pass
    await start(store, "c")
    assert await kept(store, "a", "b", "c") == (True, False, True)


@stores(STORES)
async def test_failed_start_is_forgotten_but_a_started_session_is_kept(
    make_store: MakeStore,
) -> None:
    store = make_store(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE)
    with pytest.raises(RuntimeError):
        async with store.hold("new"):
            raise RuntimeError("model call failed")
    assert not await store.exists("new")
    await start(store, "old")
    with pytest.raises(RuntimeError):
        async with store.hold("old"):
            raise RuntimeError("model call failed")
    assert await store.exists("old")


@stores(STORES)
async def test_session_evicted_while_running_is_put_back_on_save(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=100, max_sessions=1, max_bytes=MEGABYTE)
    async with store.hold("a") as session:
        await start(store, "b")
        assert not await store.exists("a")
        await store.save(session, "1", STATE)
    assert await kept(store, "a", "b") == (True, False)


@stores(STORES)
async def test_delete_unknown_session_raises(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE)
    with pytest.raises(UnknownSession):
        await store.delete("nope")
    await start(store, "a")
    await store.delete("a")
    assert not await store.exists("a")


@stores(STORES)
async def test_delete_while_a_request_runs_keeps_nothing_and_waiters_start_anew(
    make_store: MakeStore,
) -> None:
    store = make_store(ttl_seconds=10, max_sessions=5, max_bytes=MEGABYTE)
    await start(store, "a")
    running = store.hold("a")
    session = await running.__aenter__()  # a request of "a" is running
    waiter = asyncio.create_task(_kept_version_seen_by_next_request(store, "a"))
    await asyncio.sleep(0.01)  # the next request now waits for the session
    await store.delete("a")
    await store.save(session, "9", STATE)  # the running request finishes after the DELETE
    await running.__aexit__(None, None, None)
    assert await waiter is None  # it started a new session, not the deleted one's state
    assert not await store.exists("a")  # and, having saved nothing, left nothing behind


async def _kept_version_seen_by_next_request(store: SessionStore, session_id: str) -> str | None:
    async with store.hold(session_id) as session:
        return None if session.kept is None else session.kept.version


@stores(STORES)
async def test_bytes_budget_evicts_least_recently_used_and_refuses_what_never_fits(
    make_store: MakeStore,
) -> None:
    per_session = STATE[0].nbytes + STATE[1].nbytes  # 16 bytes
    store = make_store(ttl_seconds=100, max_sessions=10, max_bytes=2 * per_session)
    for name in ("a", "b", "c"):
        await start(store, name)
    assert await kept(store, "a", "b", "c") == (False, True, True)
    assert tuple(await store.usage()) == (2, 2 * per_session)
    big = (np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 2), np.float32))  # 48 bytes
    with pytest.raises(SessionsFull):
        store.check_fits(big[0].nbytes + big[1].nbytes)
    with pytest.raises(SessionsFull):
        async with store.hold("d") as session:
            await store.save(session, "1", big)
    assert await kept(store, "d", "b", "c") == (False, True, True)


@stores(STORES)
async def test_failing_requests_under_new_ids_evict_nothing(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=100, max_sessions=2, max_bytes=MEGABYTE)
    await start(store, "a")
    await start(store, "b")
    for n in range(50):  # a flood of requests that fail validation, each under a new id
        with pytest.raises(ValueError):
            async with store.hold(f"attacker-{n}"):
                raise ValueError("invalid input")
    assert await kept(store, "a", "b") == (True, True)
    assert (await store.usage()).sessions == 2


@stores(STORES)
async def test_each_owner_has_its_own_sessions(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE)
    async with store.hold("s", owner="alice") as session:
        await store.save(session, "1", STATE)
    assert await store.exists("s", "alice")
    assert not await store.exists("s", "bob") and not await store.exists("s")
    with pytest.raises(UnknownSession):
        await store.delete("s", owner="bob")
    async with store.hold("s", owner="bob") as session:
        assert session.kept is None  # bob's "s" is a new session, not alice's
    await store.delete("s", owner="alice")
    assert not await store.exists("s", "alice")


@stores(SHARED)
async def test_a_session_continues_in_another_process_store(make_store: MakeStore) -> None:
    """Two stores over one place, as two workers have: what one saves the other continues."""
    first = make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE)
    second = make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE)
    state = (np.arange(6, dtype=np.float32).reshape(1, 3, 2), np.full((1, 3, 2), 0.5, np.float32))
    async with first.hold("s") as session:
        await first.save(session, "4", state)
    async with second.hold("s") as session:
        assert session.kept is not None and session.kept.version == "4"
        np.testing.assert_array_equal(session.kept.state[0], state[0])
        np.testing.assert_array_equal(session.kept.state[1], state[1])
        await second.end(session)
    assert not await first.exists("s")


@stores(SHARED)
async def test_a_session_is_held_by_one_request_at_a_time_across_stores(
    make_store: MakeStore,
) -> None:
    """Many steps of one session from two stores at once: each step starts from the one before
    (a counter in the state), none is lost or run twice from the same state."""
    stores_ = [make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE) for _ in range(2)]

    async def step(store: SessionStore) -> None:
        async with store.hold("counter") as session:
            count = 0.0 if session.kept is None else float(session.kept.state[0][0, 0, 0])
            await asyncio.sleep(0.001)  # the model call: the other store's request must wait
            state = (np.full((1, 1, 2), count + 1, np.float32), STATE[1])
            await store.save(session, "1", state)

    await asyncio.gather(*(step(stores_[n % 2]) for n in range(40)))
    async with stores_[0].hold("counter") as session:
        assert session.kept is not None and session.kept.state[0][0, 0, 0] == 40


@stores(SHARED)
async def test_a_dead_holders_lease_runs_out_and_its_late_save_keeps_nothing(
    make_store: MakeStore, clock: FakeClock
) -> None:
    dying = make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE, lease_s=0.2)
    alive = make_store(ttl_seconds=100, max_sessions=10, max_bytes=MEGABYTE, lease_s=0.2)
    await start(alive, "s", version="1")
    stuck = dying.hold("s")
    session = await stuck.__aenter__()  # its process stops here, holding the session
    await asyncio.sleep(0.25)
    clock.advance(0.25)  # the SQLite store's leases run on the service's clock, Redis's on its own
    async with alive.hold("s") as taken:
        assert taken.kept is not None and taken.kept.version == "1"
        await alive.save(taken, "2", STATE)
    await dying.save(session, "3", STATE)  # too late: fenced out
    await stuck.__aexit__(None, None, None)
    async with alive.hold("s") as session:
        assert session.kept is not None and session.kept.version == "2"


async def test_redis_that_lost_its_data_starts_sessions_anew_and_unreachable_is_503(
    clock: FakeClock,
) -> None:
    with running_redis() as server:
        store = SharedSessionStore(RedisSessions(server.url), 100, 10, MEGABYTE, clock=clock)
        await start(store, "s")
        server.restart()  # no persistence: every session is gone
        async with store.hold("s") as session:
            assert session.kept is None
        server.stop()
        with pytest.raises(BackendUnavailable):
            async with store.hold("s"):
                pass
        with pytest.raises(BackendUnavailable):
            await store.usage()
        await store.close()


def test_codec_round_trips_a_state_exactly() -> None:
    rng = np.random.default_rng(0)
    state = (rng.standard_normal((2, 3, 5), np.float32), rng.standard_normal((2, 3, 5), np.float32))
    h, c = decode_state(encode_state(state))
    assert c is not None
    assert h.shape == c.shape == (2, 3, 5) and h.dtype == np.float32
    np.testing.assert_array_equal(h, state[0])
    np.testing.assert_array_equal(c, state[1])
    with pytest.raises(ValueError):
        decode_state(encode_state(state)[:-4])


def test_codec_round_trips_the_state_of_a_gru_or_rnn_h_alone() -> None:
    h = np.random.default_rng(1).standard_normal((2, 3, 5), np.float32)
    decoded, c = decode_state(encode_state((h, None)))
    assert c is None
    np.testing.assert_array_equal(decoded, h)
    with pytest.raises(ValueError):
        decode_state(encode_state((h, None))[:-4])
