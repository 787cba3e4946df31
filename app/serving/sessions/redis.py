"""Sessions in Redis (`session_store = "redis://host:port/db"`): shared by replicas on many
hosts. Every step is one Lua script, so a lease, a save with its evictions, or a delete is atomic
on the server, whatever the other replicas do.

Keys, all under `lstm-serve:` (give each service its own database number in the URL):
- `session:<owner>/<id>`: a hash (version, state, nbytes) per kept session;
- `lease:<owner>/<id>`: the token of the request holding the session (SET NX PX: Redis's own
  clock runs the lease out when its holder died);
- `sessions:lru`: a sorted set of kept sessions by last use (the client's wall clock), for
  expiry and eviction;
- `sessions:totals`: a hash with the bytes of every kept state.
The budgets hold only while Redis keeps every key: run it with `maxmemory-policy noeviction`
(its default). A Redis that lost its data (restarted without persistence) loses the sessions:
their next request starts anew (v1: `started`; v2 without sequence_start: 422), as after expiry.
A Redis that cannot be reached is a 503 to retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis import exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.core.errors import BackendUnavailable
from app.serving.sessions.base import Key, Usage
from app.serving.sessions.shared import Budget, Stored

T = TypeVar("T")

PREFIX = "lstm-serve:"
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
# Errors that say the server cannot answer now, not that we asked wrong.
UNAVAILABLE_REPLIES = ("OOM", "LOADING", "READONLY", "MASTERDOWN", "BUSY")

# Shared by every script: KEYS[1] lru, KEYS[2] totals; ARGV[1] the key prefix.
_HELPERS = """
local lru, totals, prefix = KEYS[1], KEYS[2], ARGV[1]
local function forget(member)
  local state = prefix .. 'session:' .. member
  local nbytes = tonumber(redis.call('HGET', state, 'nbytes') or '0')
  redis.call('DEL', state)
  redis.call('ZREM', lru, member)
  redis.call('HINCRBY', totals, 'nbytes', -nbytes)
end
local function expire(now, ttl)
  local idle = redis.call('ZRANGEBYSCORE', lru, '-inf', now - ttl)
  for _, member in ipairs(idle) do
    if redis.call('EXISTS', prefix .. 'lease:' .. member) == 0 then forget(member) end
  end
end
"""
# ARGV: prefix, member, token, lease_ms, now, ttl -> {1, version, state} | {1} | {0}
_ACQUIRE = (
    _HELPERS
    + """
local member, now = ARGV[2], tonumber(ARGV[5])
expire(now, tonumber(ARGV[6]))
local lease, token = prefix .. 'lease:' .. member, ARGV[3]
local taken = redis.call('SET', lease, token, 'NX', 'PX', ARGV[4])
if not taken and redis.call('GET', lease) ~= token then return {0} end
if not redis.call('ZSCORE', lru, member) then return {1} end
redis.call('ZADD', lru, ARGV[5], member)
return {1, unpack(redis.call('HMGET', prefix .. 'session:' .. member, 'version', 'state'))}
"""
)
# ARGV: prefix, member, token, version, state, nbytes, now, max_sessions, max_bytes -> 1 | 0
_SAVE = (
    _HELPERS
    + """
local member, token = ARGV[2], ARGV[3]
local lease = prefix .. 'lease:' .. member
if redis.call('GET', lease) ~= token then return 0 end
local state = prefix .. 'session:' .. member
local nbytes = tonumber(ARGV[6])
local old = tonumber(redis.call('HGET', state, 'nbytes') or '0')
redis.call('HSET', state, 'version', ARGV[4], 'state', ARGV[5], 'nbytes', nbytes)
redis.call('HINCRBY', totals, 'nbytes', nbytes - old)
redis.call('ZADD', lru, ARGV[7], member)
redis.call('DEL', lease)
local max_sessions, max_bytes = tonumber(ARGV[8]), tonumber(ARGV[9])
local rank = 0
while redis.call('ZCARD', lru) > max_sessions
    or tonumber(redis.call('HGET', totals, 'nbytes') or '0') > max_bytes do
  local victim = redis.call('ZRANGE', lru, rank, rank)[1]
  if not victim then break end  -- the rest are held by running requests
  if victim ~= member and redis.call('EXISTS', prefix .. 'lease:' .. victim) == 0 then
    forget(victim)
  else
    rank = rank + 1
  end
end
return 1
"""
)
# ARGV: prefix, member, token, forget (1: end the session, 0: only let go) -> nothing
_RELEASE = (
    _HELPERS
    + """
local member = ARGV[2]
local lease = prefix .. 'lease:' .. member
if redis.call('GET', lease) ~= ARGV[3] then return 0 end
if ARGV[4] == '1' and redis.call('ZSCORE', lru, member) then forget(member) end
redis.call('DEL', lease)
return 1
"""
)
# ARGV: prefix, member, now, ttl -> 1 | 0
_DELETE = (
    _HELPERS
    + """
local member = ARGV[2]
expire(tonumber(ARGV[3]), tonumber(ARGV[4]))
if not redis.call('ZSCORE', lru, member) then return 0 end
forget(member)
redis.call('DEL', prefix .. 'lease:' .. member)
return 1
"""
)
# ARGV: prefix, now, ttl -> {sessions, nbytes}
_USAGE = (
    _HELPERS
    + """
expire(tonumber(ARGV[2]), tonumber(ARGV[3]))
return {redis.call('ZCARD', lru), tonumber(redis.call('HGET', totals, 'nbytes') or '0')}
"""
)


class RedisSessions:
    def __init__(self, url: str) -> None:
        self._where = _without_password(url)
        self._redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            health_check_interval=30,
            # Once, at once: a connection Redis closed (it restarted) is opened again; a Redis
            # that is down is a 503 now, not after seconds of back-off. Every script is safe to
            # run twice (a lease its own token holds counts as taken).
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
            retry_on_error=[exceptions.ConnectionError, exceptions.TimeoutError],
        )
        self._keys = [PREFIX + "sessions:lru", PREFIX + "sessions:totals"]
        register = self._redis.register_script
        self._acquire, self._save = register(_ACQUIRE), register(_SAVE)
        self._release, self._delete, self._usage = (
            register(_RELEASE),
            register(_DELETE),
            register(_USAGE),
        )

    def describe(self) -> str:
        return f"Redis {self._where}"

    async def acquire(
        self, key: Key, token: str, now: float, lease_s: float, budget: Budget
    ) -> tuple[bool, Stored | None]:
        lease_ms = max(1, round(lease_s * 1000))
        args = [PREFIX, _member(key), token, lease_ms, repr(now), repr(budget.ttl_s)]
        reply = await self._call(self._acquire, args)
        if not reply[0]:
            return False, None
        if len(reply) == 1 or reply[1] is None:
            return True, None
        version, state = reply[1], reply[2]
        return True, Stored(version.decode(), state, 0)

    async def save(self, key: Key, token: str, stored: Stored, now: float, budget: Budget) -> bool:
        args = [
            PREFIX,
            _member(key),
            token,
            stored.version,
            stored.state,
            stored.nbytes,
            repr(now),
            budget.max_sessions,
            budget.max_bytes,
        ]
        return bool(await self._call(self._save, args))

    async def release(self, key: Key, token: str) -> None:
        await self._call(self._release, [PREFIX, _member(key), token, 0])

    async def end(self, key: Key, token: str) -> None:
        await self._call(self._release, [PREFIX, _member(key), token, 1])

    async def delete(self, key: Key, now: float, budget: Budget) -> bool:
        args = [PREFIX, _member(key), repr(now), repr(budget.ttl_s)]
        return bool(await self._call(self._delete, args))

    async def exists(self, key: Key, now: float, budget: Budget) -> bool:
        score = await self._guarded(self._redis.zscore(self._keys[0], _member(key)))
        return score is not None and score > now - budget.ttl_s

    async def usage(self, now: float, budget: Budget) -> Usage:
        sessions, nbytes = await self._call(self._usage, [PREFIX, repr(now), repr(budget.ttl_s)])
        return Usage(int(sessions), int(nbytes))

    async def close(self) -> None:
        await self._redis.aclose()

    async def _call(self, script: Callable[..., Awaitable[Any]], args: list[Any]) -> Any:
        return await self._guarded(script(keys=self._keys, args=args))

    async def _guarded(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            raise BackendUnavailable(f"the session store ({self._where}) is unreachable") from exc
        except exceptions.ResponseError as exc:
            if not str(exc).startswith(UNAVAILABLE_REPLIES):
                raise
            raise BackendUnavailable(f"the session store ({self._where}) refused: {exc}") from exc


def _member(key: Key) -> str:
    owner, session_id = key
    return f"{owner or ''}/{session_id}"


def _without_password(url: str) -> str:
    """host:port/db, for logs: the URL may carry a password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
