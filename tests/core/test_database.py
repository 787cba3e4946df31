"""The database on both engines, SQLite and a real PostgreSQL: migrations, jobs claimed exactly
once, leases, and the files that replicas on a shared database fetch from it."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.database import DATABASE_NAME, Database, open_database
from app.core.database.base import migrations
from app.core.database.postgres import PART_BYTES
from app.core.errors import StartupError
from app.registry.store import ModelStore
from app.training.datasets import DatasetStore
from app.training.store import JobStore
from model.data import from_arrays
from tests.support.checkpoints import make_checkpoint
from tests.support.postgres_server import PostgresCluster

OWNER = "test-host:1"
SPEC = {"activate": "never"}
SAMPLES = from_arrays(np.zeros((4, 3, 1), np.float32), np.zeros((4, 1), np.float32), source="t")


def queue(jobs: JobStore, job_id: str) -> None:
    """A queued job with its data, as a submission stores it."""
    jobs.create(job_id, SPEC, {"source": "t"}, jobs.write_data(job_id, SAMPLES), room=99)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / DATABASE_NAME}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.fresh_database()


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two server processes' views of one database: on SQLite, processes of one host sharing
    its data directory; on PostgreSQL, replicas with a data directory each."""
    shared = database_url.startswith("sqlite")
    first = open_database(tmp_path / "shared" if shared else tmp_path / "one", database_url)
    second = open_database(tmp_path / "shared" if shared else tmp_path / "two", database_url)
    yield first, second
    first.close()
    second.close()


def test_migrations_are_recorded_and_applied_once(database_url: str, tmp_path: Path) -> None:
    db = open_database(tmp_path, database_url)
    again = open_database(tmp_path, database_url)  # a second start changes nothing
    with again.connect() as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM schema_migrations")]
    assert names == [name for name, _ in migrations(db.engine)]
    db.close()
    again.close()


def test_a_newer_schema_is_refused(database_url: str, tmp_path: Path) -> None:
    db = open_database(tmp_path, database_url)
    with db.transaction() as connection:
        connection.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (99, "099_from_the_future", "2030-01-01"),
        )
    db.close()
    with pytest.raises(StartupError, match="schema is version 99, newer than"):
        open_database(tmp_path, database_url)


def test_a_database_made_before_migrations_is_taken_over(tmp_path: Path) -> None:
    """A data directory of an earlier release: its tables, no schema_migrations."""
    first, *_ = migrations("sqlite")
    with sqlite3.connect(tmp_path / DATABASE_NAME) as raw:
        raw.executescript(first[1])
        raw.execute(
            "INSERT INTO jobs (id, state, created_at, spec, data) "
            "VALUES ('old', 'running', 'then', '{}', '{}')"
        )
    jobs = JobStore(tmp_path)
    old = jobs.get("old")
    assert old is not None and old.owner is None and old.lease_expires_at is None


def test_each_queued_job_is_claimed_exactly_once(replicas: tuple[Database, Database]) -> None:
    """Two replicas, four claimers each, twenty jobs: each job goes to one claimer."""
    stores = [JobStore(db.data_dir, db) for db in replicas]
    for n in range(20):
        queue(stores[n % 2], f"{n:032d}")
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(store: JobStore, owner: str) -> None:
        while (job := store.claim_next(owner, 60)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [
        threading.Thread(target=claim, args=(store, f"host:{n}"))
        for n in range(4)
        for store in stores
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"{n:032d}" for n in range(20)]
    assert stores[1].count_by_state()["running"] == 20
    # Each replica reads every job's data, whichever took the submission.
    for n in range(20):
        job = stores[n % 2 - 1].get(f"{n:032d}")
        assert job is not None and len(stores[n % 2 - 1].read_data(job)) == 4


def test_a_lapsed_lease_is_interrupted_once_and_a_renewed_one_is_not(
    replicas: tuple[Database, Database],
) -> None:
    first, second = (JobStore(db.data_dir, db) for db in replicas)
    queue(first, "a" * 32)
    claimed = first.claim_next(OWNER, lease_s=0.05)
    assert claimed is not None and claimed.owner == OWNER
    time.sleep(0.1)
    seen = second.get(claimed.id)
    assert seen is not None and seen.lease_expires_at is not None
    assert seen.lease_expires_at < time.time()  # lapsed: its owner is gone
    assert first.renew(OWNER, 60) == []  # ...unless it comes back before anyone acts
    assert not second.interrupt(seen, {"code": "interrupted", "message": "gone"})
    renewed = second.get(claimed.id)
    assert renewed is not None and renewed.state == "running"
    first.cancel(claimed.id)  # requested on one replica, seen by the owner's next renewal
    assert first.renew(OWNER, 0.05) == [claimed.id]
    time.sleep(0.1)
    lapsed = second.get(claimed.id)
    assert lapsed is not None
    assert second.interrupt(lapsed, {"code": "interrupted", "message": "gone"})
    assert not first.interrupt(lapsed, {"code": "interrupted", "message": "gone"})
    ended = first.get(claimed.id)
    assert ended is not None and ended.state == "interrupted"


def test_files_reach_every_replica(replicas: tuple[Database, Database]) -> None:
    """A checkpoint stored on one replica loads on the other (on PostgreSQL: fetched from the
    database into the second replica's own data directory)."""
    models = [ModelStore(db.data_dir, db) for db in replicas]
    stored = models[0].add(make_checkpoint(3), {"kind": "test"})
    models[0].set_active(stored.version)
    assert models[1].active_version() == stored.version
    loaded = models[1].load(stored.version)
    assert loaded.config == make_checkpoint(3).config
    if replicas[1].engine == "postgresql":
        local = models[1].checkpoint_path(stored.version)
        assert local.is_relative_to(replicas[1].data_dir) and local.is_file()


def test_data_sets_reach_every_replica(replicas: tuple[Database, Database]) -> None:
    stores = [DatasetStore(db.data_dir, None, db) for db in replicas]
    content = b"t,y\n" + b"".join(f"{i},{i * 0.5}\n".encode() for i in range(20))
    upload = stores[0].begin("csv")
    upload.write(content)
    dataset = stores[0].add(upload, 1000, 1 << 20, max_columns=4)
    seen = stores[1].get(dataset.id)
    assert seen is not None and stores[1].local_file(seen).read_bytes() == content


def test_a_file_larger_than_a_part_reaches_every_replica(
    replicas: tuple[Database, Database],
) -> None:
    """On PostgreSQL a file is stored and fetched in parts of PART_BYTES, never whole in one
    value; a series of 2.5 parts arrives intact and memory-maps on the other replica."""
    stores = [DatasetStore(db.data_dir, None, db) for db in replicas]
    series = np.arange(int(2.5 * PART_BYTES) // 8, dtype=np.float64).reshape(-1, 2)
    upload = stores[0].begin("npy")
    buffer = io.BytesIO()
    np.save(buffer, series)
    for start in range(0, buffer.tell(), 1 << 20):
        upload.write(buffer.getvalue()[start : start + (1 << 20)])
    dataset = stores[0].add(upload, 10, 1 << 30, max_columns=4)
    assert dataset.summary == {"rows": len(series), "features": 2, "dtype": "float64"}
    seen = stores[1].get(dataset.id)
    assert seen is not None
    np.testing.assert_array_equal(np.load(stores[1].local_file(seen), mmap_mode="r"), series)
    if replicas[0].engine == "postgresql":
        with replicas[0].connect() as db:
            query = "SELECT COUNT(*) FROM blob_parts WHERE sha256 = ?"
            assert db.execute(query, (dataset.sha256,)).fetchone()[0] == 3


def test_a_resume_point_reaches_the_replica_that_resumes_the_job(
    replicas: tuple[Database, Database],
) -> None:
    """A job's resume point, saved by one replica's worker, is found by the replica that takes
    the job after it was interrupted and queued again; epochs after the point are forgotten."""
    first, second = (JobStore(db.data_dir, db) for db in replicas)
    queue(first, "a" * 32)
    job = first.claim_next(OWNER, 60)
    assert job is not None
    for epoch in (1, 2, 3):
        first.record_epoch(job.id, {"epoch": epoch, "epochs": 9, "train_loss": 0.5,
                                    "val_loss": None, "elapsed_s": 0.1})  # fmt: skip
    content = b"a resume point after epoch 2"
    first.resume_path(job.id).parent.mkdir(parents=True, exist_ok=True)
    first.resume_path(job.id).write_bytes(content)
    assert first.record_resume_point(job.id, 2, hashlib.sha256(content).hexdigest())
    running = second.get(job.id)
    assert running is not None
    assert second.interrupt(running, {"code": "interrupted", "message": "gone"})
    interrupted = second.get(job.id)
    assert interrupted is not None and second.requeue(interrupted, "gone")
    assert not second.requeue(interrupted, "gone")  # once: it changed since it was read
    taken = second.claim_next("other-host:2", 60)
    assert taken is not None and taken.id == job.id and taken.resume_epoch == 2
    assert taken.resumes == [{"after_epoch": 2, "at": taken.resumes[0]["at"], "why": "gone"}]
    point = second.resume_point(taken)
    assert point is not None and point.read_bytes() == content
    assert [e["epoch"] for e in second.history(job.id)] == [1, 2]


def test_a_resume_point_replaces_the_one_before(replicas: tuple[Database, Database]) -> None:
    """Each epoch's resume point replaces the last: on PostgreSQL the earlier file leaves the
    database too, so a long job holds one resume point, not one per epoch."""
    jobs = JobStore(replicas[0].data_dir, replicas[0])
    queue(jobs, "b" * 32)
    job = jobs.claim_next(OWNER, 60)
    assert job is not None
    digests = []
    for epoch in (1, 2):
        content = f"resume point after epoch {epoch}".encode()
        jobs.resume_path(job.id).parent.mkdir(parents=True, exist_ok=True)
        jobs.resume_path(job.id).write_bytes(content)
        digests.append(hashlib.sha256(content).hexdigest())
        assert jobs.record_resume_point(job.id, epoch, digests[-1])
    if replicas[0].engine == "postgresql":
        with replicas[0].connect() as db:
            query = "SELECT sha256 FROM blob_parts WHERE sha256 IN (?, ?)"
            assert [row[0] for row in db.execute(query, digests)] == [digests[1]]
