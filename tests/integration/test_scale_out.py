"""Many server processes that behave as one service, on both back ends (one suite, so the two
cannot drift apart):

- `workers`: `lstm-serve serve --workers 2` on SQLite and the `local` session store;
- `replicas`: two `lstm-serve serve` processes with a data directory each, one PostgreSQL, one
  Redis, and HAProxy in front.

Every request goes on a new connection, so it may reach any process; which one answered is read
from the processes' JSON log lines, which name their replica."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from tests.support.bad_requests import AUTH, TOKEN
from tests.support.checkpoints import write_checkpoint
from tests.support.haproxy import running_haproxy
from tests.support.jobs import LONG_JOB, SMALL_JOB, is_training, submit, wait_for
from tests.support.postgres_server import PostgresCluster
from tests.support.redis_server import running_redis
from tests.support.reference import expected
from tests.support.servers import LSTM_SERVE, Server, clean_env, free_port, wait_until_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RNG = np.random.default_rng(11)
WHOLE = [RNG.normal(size=(20, 3)).tolist(), RNG.normal(size=(20, 3)).tolist()]
SERIES_INPUT = {"inputs": [[[0.1], [0.5], [0.9]]]}  # fits the models SMALL_JOB trains
SWAP_DEADLINE_S = 1.0  # every process serves a new activation within this


@dataclass
class Cluster:
    kind: str
    url: str  # where clients go: the workers' shared port, or HAProxy
    checkpoint: Path  # the model every process serves first
    logs: list[Path]  # every server process's log
    servers: list[Server]
    database_url: str | None = None

    def fresh(self) -> httpx.Client:
        """A client that opens a new connection for every request."""
        return httpx.Client(
            base_url=self.url, timeout=30.0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def access_lines(self) -> list[dict[str, Any]]:
        """Every access log line of every process so far."""
        lines = []
        for log in self.logs:
            for text in log.read_text(errors="replace").splitlines():
                if text.startswith("{"):
                    entry = json.loads(text)
                    if entry.get("logger") == "app.access":
                        lines.append(entry)
        return lines

    def replicas_that_answered(self, path: str, status: int) -> set[str]:
        return {
            line["replica"]
            for line in self.access_lines()
            if line["path"] == path and line["status"] == status
        }


def _start(
    data_dir: Path, port: int, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    command = [str(LSTM_SERVE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    return process, log


def _stopped(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)


@pytest.fixture(scope="module", params=["workers", "replicas"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp(request.param)
    checkpoint = write_checkpoint(root / "small.safetensors", seed=0)
    # Resume off: a killed owner's job stays interrupted, for the test to see (resuming it is
    # tests/integration/test_resume.py's).
    settings = {
        "api_token": TOKEN,
        "log_format": "json",
        "max_queued_jobs": 8,
        "resume_interrupted": False,
    }
    with ExitStack() as stack:
        if request.param == "workers":
            port = free_port()
            env = clean_env(**settings)
            process, log = _start(
                root / "var", port, env, "--workers", "2", "--model", str(checkpoint)
            )
            server = Server(f"http://127.0.0.1:{port}", process, root / "var", log)
            stack.callback(_stopped, server)
            _wait_for_line(log, "with 2 workers")  # the first worker serves before the second
            yield Cluster("workers", server.url, checkpoint, [log], [server])
            return
        postgres: PostgresCluster = request.getfixturevalue("postgres")
        redis = stack.enter_context(running_redis())
        shared = {
            **settings,
            "database_url": postgres.fresh_database(),
            "session_store": redis.url,
            "job_lease_seconds": 3,  # a dead replica's job is noticed within seconds
        }
        servers = []
        for name in ("r1", "r2"):
            port = free_port()
            env = clean_env(**shared, replica_name=name)
            process, log = _start(root / name, port, env, "--model", str(checkpoint))
            server = Server(f"http://127.0.0.1:{port}", process, root / name, log)
            stack.callback(_stopped, server)
            wait_until_ready(server)  # one after the other: the first imports the model
            servers.append(server)
        backends = [server.url.removeprefix("http://") for server in servers]
        proxy = stack.enter_context(running_haproxy(backends))
        logs = [server.log for server in servers]
        yield Cluster("replicas", proxy.url, checkpoint, logs, servers, shared["database_url"])


def _wait_for_line(log: Path, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r} in {log}:\n{log.read_text()}"
        time.sleep(0.1)


def test_a_session_over_twenty_connections_equals_the_whole_sequence(cluster: Cluster) -> None:
    with cluster.fresh() as client:
        for step in range(20):
            body = {"inputs": [s[step : step + 1] for s in WHOLE], "session_id": "twenty"}
            response = client.post("/v1/predict", json={**body, "return_state": True})
            assert response.status_code == 200, response.text
            assert response.json()["session"]["started"] is (step == 0)
        last = response.json()
        assert client.delete("/v1/sessions/twenty").status_code == 204
    for row, sequence in enumerate(WHOLE):
        want = expected(cluster.checkpoint, sequence)
        np.testing.assert_allclose(last["predictions"][row], want.prediction, atol=1e-5)
        np.testing.assert_allclose(np.array(last["state"]["c"])[:, row], want.c, atol=1e-5)
    assert len(cluster.replicas_that_answered("/v1/predict", 200)) == 2


def test_the_one_token_works_on_every_process(cluster: Cluster) -> None:
    with cluster.fresh() as client:
        active = client.get("/v1/models").json()["active"]
        path = f"/v1/models/{active}/activate"
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        for _ in range(10):  # three calls a round: a round-robin proxy sends each kind to both
            assert client.post(path, headers=AUTH).status_code == 200
            assert client.post(path, headers=AUTH).status_code == 200
            assert client.post(path, headers=wrong).status_code == 403
    assert len(cluster.replicas_that_answered(path, 200)) == 2
    assert len(cluster.replicas_that_answered(path, 403)) == 2


def test_a_job_trains_once_and_its_version_reaches_every_process(cluster: Cluster) -> None:
    with cluster.fresh() as client:
        job = wait_for(client, submit(client, {**SMALL_JOB, "activate": "never"})["id"])
        assert job["state"] == "succeeded", job
        version = job["model_version"]
        path = f"/v1/models/{version}"
        for _ in range(20):
            assert client.get(path).status_code == 200
    assert len(cluster.replicas_that_answered(path, 200)) == 2
    started = [
        line for log in cluster.logs for line in log.read_text().splitlines()
        if f'"job_id":"{job["id"]}"' in line and '"event":"job_started"' in line
    ]  # fmt: skip
    assert len(started) == 1, started


def test_an_activation_reaches_every_process_within_a_second_without_a_failure(
    cluster: Cluster,
) -> None:
    with cluster.fresh() as client:
        # Two versions trained on one series, so one body fits both; the first is served first.
        old, new = (
            wait_for(client, submit(client, {**SMALL_JOB, "activate": "never"})["id"])[
                "model_version"
            ]
            for _ in range(2)
        )
        assert client.post(f"/v1/models/{old}/activate", headers=AUTH).status_code == 200
    time.sleep(SWAP_DEADLINE_S)
    failures: list[str] = []
    seen: list[tuple[float, str]] = []  # (time answered, version), while the swap happens
    stop = threading.Event()

    def predict_all_along() -> None:
        with cluster.fresh() as client:
            while not stop.is_set():
                response = client.post("/v1/predict", json=SERIES_INPUT)
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    seen.append((time.monotonic(), response.json()["model"]["version"]))

    threads = [threading.Thread(target=predict_all_along) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    with cluster.fresh() as client:
        assert client.post(f"/v1/models/{new}/activate", headers=AUTH).status_code == 200
    activated = time.monotonic()
    time.sleep(SWAP_DEADLINE_S + 1.0)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    late = [version for at, version in seen if at > activated + SWAP_DEADLINE_S]
    assert late and set(late) == {new}, "a process still served the old version after 1 s"


def test_kill_9_of_the_training_process_interrupts_its_job_and_the_rest_goes_on(
    cluster: Cluster,
) -> None:
    with cluster.fresh() as client:
        running = wait_for(client, submit(client, LONG_JOB)["id"], is_training)
        owner_pid = int(running["owner"].rpartition(":")[2])
        os.kill(owner_pid, signal.SIGKILL)
        # Connections already queued at the killed process are reset, as with any kill -9;
        # new ones reach the others once it is gone.
        time.sleep(1.0)
        interrupted = wait_for(client, running["id"])
        assert interrupted["state"] == "interrupted", interrupted
        assert interrupted["error"]["code"] == "interrupted"
        assert "after epoch" in interrupted["error"]["message"]  # its last progress is kept
        assert _data_is_kept(cluster, running["id"])
        for _ in range(10):
            assert client.post("/v1/predict", json=SERIES_INPUT).status_code == 200
        following = wait_for(client, submit(client, SMALL_JOB)["id"])
        assert following["state"] == "succeeded", following
        assert following["owner"] != running["owner"]


def _data_is_kept(cluster: Cluster, job_id: str) -> bool:
    """The job's data is still there to train on again: in the data directory the workers
    share, or in the database that replicas share."""
    if cluster.database_url is None:
        return (cluster.servers[0].data_dir / "jobs" / job_id / "data.npz").is_file()
    with psycopg.connect(cluster.database_url) as db:
        row = db.execute(
            "SELECT SUM(length(content)) FROM blob_parts JOIN jobs "
            "ON blob_parts.sha256 = jobs.data_sha256 WHERE jobs.id = %s",
            (job_id,),
        ).fetchone()
    return row is not None and row[0] > 0
