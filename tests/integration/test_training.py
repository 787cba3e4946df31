"""Training jobs against real server processes and real worker processes: a job trains and its
version serves; `if_better` keeps a worse model inactive; cancelling a running and a queued
job; a full queue; predictions while a job trains; `kill -9` during a job and the restart;
activation under a concurrent predict load."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from model.files import sha256_of_file
from tests.support.bad_requests import AUTH, TOKEN
from tests.support.jobs import LONG_JOB, SINE, SMALL_JOB, WORSE_JOB, is_training, submit, wait_for
from tests.support.processes import children, command_line, wait_until_gone
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

# Runs until it is stopped: far more epochs than the tests wait for.
ENDLESS_JOB = {**LONG_JOB, "training": {**LONG_JOB["training"], "epochs": 1000}}
SINE_WINDOW = {"inputs": [[[v] for v in SINE[-8:]]]}


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    """One job at a time, one more queued."""
    data_dir = tmp_path_factory.mktemp("trainer") / "var"
    env = clean_env(api_token=TOKEN, max_concurrent_jobs=1, max_queued_jobs=1)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        yield server


def follow(server: Server, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The job's server-sent events until the stream ends."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with httpx.stream("GET", f"{server.url}/v1/train/{job_id}/events", timeout=90) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_a_job_trains_serves_its_version_and_if_better_keeps_a_worse_one_inactive(
    trainer: Server,
) -> None:
    with trainer.client() as client:
        job = submit(client, {**SMALL_JOB, "activate": "always"})
        events = follow(trainer, job["id"])
        assert [name for name, _ in events][-1] == "done"
        assert {name for name, _ in events[:-1]} == {"progress"}
        done = events[-1][1]
        assert done["state"] == "succeeded" and done["activation"]["state"] == "activated"
        version = done["model_version"]
        predicted = client.post("/v1/predict", json=SINE_WINDOW).json()
        assert predicted["model"]["version"] == version
        assert abs(predicted["predictions"][0][0] - math.sin(0.3 * 120)) < 0.1  # it learnt
        worse = wait_for(client, submit(client, WORSE_JOB)["id"])
        assert worse["state"] == "succeeded" and worse["model_version"] != version
        assert worse["activation"]["state"] == "not_activated"
        assert worse["activation"]["compared_with"] == version
        assert worse["activation"]["val_mse"] > worse["activation"]["active_val_mse"]
        assert client.get("/v1/models").json()["active"] == version
        assert client.post("/v1/predict", json=SINE_WINDOW).json()["model"]["version"] == version
        rollback = client.post("/v1/models/1/activate", headers=AUTH)
        assert rollback.json() == {"active": "1", "previous": version}
        three_features = {"inputs": [[[0.5, -1.0, 2.0]]]}
        assert client.post("/v1/predict", json=three_features).json()["model"]["version"] == "1"


def test_cancel_running_and_queued_jobs_full_queue_and_predictions_keep_flowing(
    trainer: Server,
) -> None:
    with trainer.client() as client:
        versions = len(client.get("/v1/models").json()["versions"])
        running = submit(client, ENDLESS_JOB)
        started = wait_for(client, running["id"], is_training)
        [worker] = children(trainer.process.pid)  # a process of its own, not a thread
        assert running["id"] in command_line(worker)
        # When memory runs out, the kernel kills the worker first, never the server.
        assert Path(f"/proc/{worker}/oom_score_adj").read_text().strip() == "1000"
        assert Path(f"/proc/{trainer.process.pid}/oom_score_adj").read_text().strip() == "0"
        # Training takes only the CPU time that serving leaves: SCHED_IDLE, niced as well.
        assert os.sched_getscheduler(worker) == os.SCHED_IDLE
        assert os.getpriority(os.PRIO_PROCESS, worker) == 10
        assert os.sched_getscheduler(trainer.process.pid) == os.SCHED_OTHER
        environment = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        assert not [entry for entry in environment if entry.startswith(b"LSTM_SERVE_API_TOKEN")]
        queued = submit(client, SMALL_JOB)
        full = client.post("/v1/train", json=SMALL_JOB, headers=AUTH)
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        active = client.get("/v1/models").json()["active"]
        features = client.get(f"/v1/models/{active}").json()["config"]["input_size"]
        request = {"inputs": [[[0.5] * features] * 8]}
        statuses = predict_concurrently(trainer, request, threads=4, each=50)
        assert statuses == [200] * 200
        assert client.get(f"/v1/train/{running['id']}").json()["state"] == "running"
        wait_for(client, running["id"], lambda job: _epochs(job) > _epochs(started))  # it trains
        cancelled = client.post(f"/v1/train/{queued['id']}/cancel", headers=AUTH)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        stopping = client.post(f"/v1/train/{running['id']}/cancel", headers=AUTH)
        assert stopping.status_code == 202
        stopped = wait_for(client, running["id"], timeout=10)
        assert stopped["state"] == "cancelled" and stopped["model_version"] is None
        wait_until_gone(worker)
        assert len(client.get("/v1/models").json()["versions"]) == versions
        assert client.get(f"/v1/train/{queued['id']}").json()["started_at"] is None


def predict_concurrently(
    server: Server, request: dict[str, Any], threads: int, each: int
) -> list[int]:
    statuses: list[int] = []

    def run() -> None:
        with server.client() as client:
            for _ in range(each):
                statuses.append(client.post("/v1/predict", json=request).status_code)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return statuses


@pytest.mark.slow
def test_kill_9_during_a_job_then_restart(tmp_path: Path, checkpoint: Path) -> None:
    """Finished versions and jobs survive with their files; the running job is interrupted with
    its last progress (and, resume off here, stays so); the queued one runs; the active version
    is the one that was active; the worker dies with the server."""
    data_dir = tmp_path / "var"
    env = clean_env(api_token=TOKEN, resume_interrupted=False)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        with server.client() as client:
            finished = wait_for(client, submit(client, {**SMALL_JOB, "activate": "always"})["id"])
            running = submit(client, ENDLESS_JOB)
            at_kill = wait_for(client, running["id"], lambda j: _epochs(j) >= 2)
            queued = submit(client, {**SMALL_JOB, "training": {"epochs": 2}})
        [worker] = children(server.process.pid)
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait(timeout=10)
        wait_until_gone(worker)  # the kernel ends it with its server
    assert finished["model_version"] == "2" and finished["activation"]["state"] == "activated"
    with running_server(data_dir, env=env) as server, server.client() as client:
        assert client.get("/v1/models").json()["active"] == "2"
        interrupted = client.get(f"/v1/train/{running['id']}").json()
        assert interrupted["state"] == "interrupted"
        assert interrupted["error"]["code"] == "interrupted"
        assert _epochs(interrupted) >= _epochs(at_kill)  # its last progress is kept
        assert len(interrupted["history"]) == _epochs(interrupted)
        again = client.get(f"/v1/train/{finished['id']}").json()
        assert {k: again[k] for k in ("state", "model_version", "activation", "result")} == {
            k: finished[k] for k in ("state", "model_version", "activation", "result")
        }
        later = wait_for(client, queued["id"])
        assert later["state"] == "succeeded" and later["model_version"] == "3"
        models = client.get("/v1/models").json()
    assert models["active"] == "2"
    assert [v["version"] for v in models["versions"]] == ["1", "2", "3"]
    for stored in models["versions"]:
        path = data_dir / "models" / stored["version"] / "model.safetensors"
        assert sha256_of_file(path) == stored["sha256"]
    assert sorted(p.name for p in (data_dir / "models").iterdir()) == ["1", "2", "3"]
    for job in (finished, running, queued):
        assert (data_dir / "jobs" / job["id"] / "data.npz").is_file()


def _epochs(job: dict[str, Any]) -> int:
    return int(job["progress"]["epoch"]) if job["progress"] else 0


def test_activation_under_load_loses_no_request_and_mixes_no_versions(
    tmp_path: Path, checkpoint: Path
) -> None:
    """On the NumPy backend, which also shows that training never loads torch into the
    server: the worker process does that."""
    env = clean_env(api_token=TOKEN)
    args = ("--model", str(checkpoint), "--backend", "numpy")
    with running_server(tmp_path / "var", *args, env=env) as server, server.client() as client:
        rng = np.random.default_rng(1)
        inputs, targets = rng.normal(size=(40, 4, 3)), rng.normal(size=(40, 2))
        data = {"inputs": inputs.tolist(), "targets": targets.tolist()}
        body = {"data": data, "model": {"hidden_size": 8}, "training": {"epochs": 2}}
        other = wait_for(client, submit(client, body)["id"])["model_version"]
        request = {"inputs": rng.normal(size=(2, 5, 3)).tolist()}
        expected = {
            version: client.post("/v1/predict", json={**request, "model_version": version}).json()
            for version in ("1", other)
        }
        answers = _predict_while_switching(server, client, request, [other, "1"] * 4)
        assert len(answers) > 50 and {status for status, _ in answers} == {200}
        for _, answer in answers:
            version = answer["model"]["version"]
            want = expected[version]["predictions"]
            np.testing.assert_allclose(answer["predictions"], want, atol=1e-5)
        assert {answer["model"]["version"] for _, answer in answers} == {"1", other}
        assert client.get("/v1/models").json()["active"] == "1"
        assert "libtorch" not in Path(f"/proc/{server.process.pid}/maps").read_text()


def _predict_while_switching(
    server: Server, client: httpx.Client, request: dict[str, Any], versions: list[str]
) -> list[tuple[int, dict[str, Any]]]:
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()

    def load() -> None:
        with server.client() as own:
            while not stop.is_set():
                response = own.post("/v1/predict", json=request)
                answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for version in versions:
            time.sleep(0.1)
            assert client.post(f"/v1/models/{version}/activate", headers=AUTH).status_code == 200
        time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return answers
