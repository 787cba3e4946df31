"""A throwaway PostgreSQL cluster for the tests: `initdb` into a fresh directory, `pg_ctl start` on
127.0.0.1 and a free port, one empty database per test (`fresh_database`).

`initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres` user that
Debian's package creates, in a directory under /tmp that user owns; as anyone else they run
directly. The binaries come from the Debian layout (/usr/lib/postgresql/<version>/bin, newest
first), else `pg_config --bindir`, else the PATH; scripts/system-packages.sh installs them. The
cluster holds test data only, so it runs with `fsync=off` and `synchronous_commit=off`.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from tests.support.servers import free_port

SUPERUSER = "postgres"  # the bootstrap superuser: creates the databases, over the unix socket
ROLE = "lstm"  # what the service connects as: owns the databases, not a superuser
PASSWORD = "lstm"  # ignored (trust), but in the URLs so that code passing a password is exercised
START_TIMEOUT_S = 60
MISSING = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin, "
    "`pg_config --bindir` or the PATH: run scripts/system-packages.sh (Debian package postgresql)"
)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,): the newest version sorts last."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def find_bindir() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres`; a test failure if there is none."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(found.stdout.strip()))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    pytest.fail(MISSING)


class PostgresCluster:
    """One cluster in its own directory: `start`, `stop`, `restart`, and databases to hand out.

    `url` is the database `lstm`, owned by the role `lstm`; `fresh_database()` makes another,
    empty one (CREATE DATABASE copies template1: milliseconds) so that each test has its own.
    """

    def __init__(self, directory: Path, bindir: Path, port: int) -> None:
        self.directory = directory
        self.bindir = bindir
        self.port = port
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.as_postgres = os.geteuid() == 0  # initdb and pg_ctl refuse root

    @property
    def url(self) -> str:
        return self.url_of(ROLE)

    def url_of(self, database: str) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[TupleRow]:
        """An autocommit connection as the superuser, over the unix socket in `directory`."""
        return psycopg.connect(
            host=str(self.directory), port=self.port, user=SUPERUSER, dbname="postgres",
            autocommit=True, connect_timeout=5,
        )  # fmt: skip

    def fresh_database(self, name: str | None = None) -> str:
        """Create an empty database owned by `lstm` (a new random name by default); its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with self.admin() as db:
            db.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(ROLE)
                )
            )
        return self.url_of(name)

    def init(self) -> None:
        """initdb, then the settings: loopback and our socket directory only, trust for the two
        roles, no fsync (test data: a crash of the machine may lose it, and nothing else)."""
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust",
            "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",  # several replicas, each with a pool, in one test
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:  # keeps postgres's ownership
            conf.write("\n# tests/support/postgres_server.py: a throwaway test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "pg_hba.conf").open("w") as hba:
            hba.write(
                f"local all {SUPERUSER} trust\n"
                f"host all {ROLE} 127.0.0.1/32 trust\n"
                f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
            )

    def start(self) -> None:
        """pg_ctl start, waiting until the server accepts connections."""
        self._run(
            "pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log),
            "--wait", "--timeout", str(START_TIMEOUT_S),
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with self.admin():
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    pytest.fail(f"PostgreSQL does not accept connections: {error}\n{self._log()}")
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: `fast` shuts down cleanly (a checkpoint); `immediate` just ends it."""
        self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", mode, "--wait")

    def restart(self) -> None:
        """A clean stop and a start on the same port: what a database restart looks like to
        clients (their connections break; committed data stays)."""
        self.stop("fast")
        self.start()

    def create_role(self) -> None:
        with self.admin() as db:
            db.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(PASSWORD)
                )
            )
        self.fresh_database(ROLE)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_postgres:
            runuser = shutil.which("runuser")
            command = (
                [runuser, "-u", SUPERUSER, "--", *command]
                if runuser
                else ["su", SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(command)]
            )
        done = subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True, check=False,
            timeout=START_TIMEOUT_S + 30,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(
                f"{shlex.join(command)} exited with {done.returncode}:\n"
                f"{done.stdout}{done.stderr}{self._log()}"
            )

    def _log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _make_directory() -> Path:
    """A new directory under the system's temp dir, owned by whoever runs the server: as root,
    the `postgres` user (not a 0700 pytest tmp dir, which that user could not enter)."""
    directory = Path(tempfile.mkdtemp(prefix="lstm-serve-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            directory.rmdir()
            pytest.fail(
                "running as root, PostgreSQL must run as the `postgres` user, and there is none: "
                "run scripts/system-packages.sh (Debian package postgresql creates it)"
            )
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return directory


@contextmanager
def running_postgres() -> Iterator[PostgresCluster]:
    """A started cluster with the role `lstm` and its database; stopped and deleted on exit."""
    bindir = find_bindir()
    directory = _make_directory()
    cluster = PostgresCluster(directory, bindir, free_port())
    try:
        cluster.init()
        cluster.start()
        cluster.create_role()
        yield cluster
    finally:
        try:
            if (cluster.data / "postmaster.pid").exists():
                cluster.stop("immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole session; use `postgres.fresh_database()` per test."""
    with running_postgres() as cluster:
        yield cluster
