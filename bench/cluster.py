"""Two replicas of lstm-serve behind HAProxy, on one PostgreSQL and one Redis: the topology of
docs/scaling.md for many hosts, here on one. The servers come from the test suite's fixtures
(tests/support): throwaway instances on loopback ports, stopped when the bench ends."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import servers

sys.path.insert(0, str(servers.ROOT))  # tests.support: the same servers the tests start

from tests.support.haproxy import running_haproxy
from tests.support.postgres_server import running_postgres
from tests.support.redis_server import running_redis


@dataclass
class Cluster:
    entry: servers.Server  # HAProxy: where clients go
    replicas: list[servers.Server]
    redis_url: str


@contextmanager
def replicas_behind_haproxy(checkpoint: Path, port: int, work: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        redis = stack.enter_context(running_redis())
        shared = {"LSTM_SERVE_DATABASE_URL": postgres.url, "LSTM_SERVE_SESSION_STORE": redis.url}
        replicas = []
        for index, name in enumerate(("r1", "r2")):
            replica = servers.replica(checkpoint, port + index, name, shared, work / name,
                                      work / f"{name}.log")  # fmt: skip
            stack.callback(servers.stop, replica)
            replicas.append(replica)
        proxy = stack.enter_context(running_haproxy([f"127.0.0.1:{r.port}" for r in replicas]))
        port = int(proxy.url.rpartition(":")[2])
        entry = servers.Server(
            "haproxy", port, proxy.process, tuple(r.process.pid for r in replicas)
        )
        yield Cluster(entry, replicas, redis.url)
