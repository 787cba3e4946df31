"""The servers the scale-out tests stand on, started for real: a PostgreSQL cluster
(tests/support/postgres_server.py) and HAProxy (tests/support/haproxy.py). If these fail, the
replica tests' failures say nothing about the service."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from tests.support import postgres_server
from tests.support.haproxy import running_haproxy
from tests.support.postgres_server import PostgresCluster

pytestmark = pytest.mark.integration

postgres = postgres_server.postgres  # the session's cluster (a fixture)


def test_postgres_accepts_the_service_role(postgres: PostgresCluster) -> None:
    with psycopg.connect(postgres.fresh_database()) as db:
        db.execute("CREATE TABLE jobs (id integer PRIMARY KEY, state text NOT NULL)")
        db.execute("INSERT INTO jobs VALUES (1, 'queued')")
        row = db.execute("SELECT state, current_user FROM jobs").fetchone()
    assert row == ("queued", "lstm")


def test_fresh_databases_are_isolated(postgres: PostgresCluster) -> None:
    first, second = postgres.fresh_database(), postgres.fresh_database()
    assert first != second
    with psycopg.connect(first) as db:
        db.execute("CREATE TABLE only_here (x integer)")
    with psycopg.connect(second) as db:
        found = db.execute("SELECT to_regclass('only_here')").fetchone()
    assert found == (None,)


def test_a_restart_keeps_committed_data(postgres: PostgresCluster) -> None:
    url = postgres.fresh_database()
    with psycopg.connect(url) as db:
        db.execute("CREATE TABLE kept (x integer)")
        db.execute("INSERT INTO kept VALUES (42)")
    with psycopg.connect(url) as open_before:
        postgres.restart()
        with pytest.raises(psycopg.OperationalError):
            open_before.execute("SELECT 1")  # its server went away
    with psycopg.connect(url) as db:
        assert db.execute("SELECT x FROM kept").fetchall() == [(42,)]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Nothing: HAProxy ends each health check with a reset once it has the status line."""


class Backend:
    """A tiny HTTP server in a thread that answers every GET, /readyz included, with its name."""

    def __init__(self, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output clean

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)


@contextmanager
def backends(*names: str) -> Iterator[list[Backend]]:
    started = [Backend(name) for name in names]
    try:
        yield started
    finally:
        for backend in started:
            backend.stop()


def test_haproxy_spreads_requests_over_its_backends() -> None:
    with backends("a", "b") as (a, b), running_haproxy([a.address, b.address]) as proxy:
        assert proxy.server_states() == {"s0": "UP", "s1": "UP"}
        with proxy.client() as client:
            answers = Counter(client.get("/").text for _ in range(10))
    assert answers == {"a": 5, "b": 5}  # round robin


def test_haproxy_routes_around_a_stopped_backend() -> None:
    with backends("a", "b") as (a, b), running_haproxy([a.address, b.address]) as proxy:
        with proxy.client() as client:
            b.stop()
            stopped = time.monotonic()
            answers = []
            while time.monotonic() - stopped < 1.0:
                response = client.get("/")  # refused by b: retried on a (option redispatch)
                assert response.status_code == 200
                answers.append(response.text)
        assert set(answers) == {"a"}
        proxy.wait_for({"s1": "DOWN"}, timeout=0.2)  # about 1 s after b stopped
        assert proxy.server_states() == {"s0": "UP", "s1": "DOWN"}
