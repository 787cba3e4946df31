"""Operations against real server processes: metrics move with requests, request ids come back
and are in the log, the log is JSON lines (stderr is not a terminal) with neither the token nor
a request's payload, and SIGTERM under a predict load and a running training job loses no
request that the server accepted, interrupts the job and exits 0 in bounded time."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.token import TOKEN_FILE_NAME
from app.training.runner import STOP_TIMEOUT_S
from app.training.store import JobStore
from tests.support.bad_requests import STEP, TOKEN
from tests.support.jobs import LONG_JOB, SMALL_JOB, submit, wait_for
from tests.support.observability import access_lines, log_lines, parse_metrics, series, value
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

ENDLESS_JOB = {**LONG_JOB, "training": {**LONG_JOB["training"], "epochs": 1000}}
PREDICT = {"route": "/v1/predict", "method": "POST"}
SHUTDOWN_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    """No token configured: the server generates one into its data directory."""
    data_dir = tmp_path_factory.mktemp("operations") / "var"
    with running_server(data_dir, "--model", str(checkpoint), env=clean_env()) as server:
        yield server


def scrape(client: httpx.Client) -> dict[Any, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse_metrics(response.text)


def logged(server: Server, request_ids: set[str], timeout: float = 5.0) -> list[dict[str, Any]]:
    """The server's log, once the access lines of `request_ids` are in it (each is written
    just after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(server.log.read_text())
        found = {line.get("request_id") for line in lines if line["logger"] == "app.access"}
        if request_ids <= found or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_metrics_move_with_requests(server: Server) -> None:
    with server.client() as client:
        before = scrape(client)
        for _ in range(3):
            assert client.post("/v1/predict", json={"inputs": [[STEP]]}).status_code == 200
        after = scrape(client)
    name = "lstm_serve_requests_total"
    assert value(after, name, **PREDICT, status="200") - value(before, name, **PREDICT) == 3
    buckets = series(after, "lstm_serve_request_duration_seconds_bucket")
    assert {dict(labels)["le"] for labels in buckets} >= {"0.005", "0.1", "1.0", "+Inf"}
    batches = "lstm_serve_batch_sequences_count"
    assert value(after, batches) - value(before, batches) >= 1
    assert value(after, "lstm_serve_model_info", name="lstm", version="1", backend="torch") == 1
    assert value(after, "process_resident_memory_bytes") > 0


def test_request_ids_come_back_and_are_logged(server: Server) -> None:
    with server.client() as client:
        mine = client.get("/healthz", headers={"X-Request-ID": "ops-check-1"})
        made = client.get("/healthz")
    assert mine.headers["x-request-id"] == "ops-check-1"
    generated = made.headers["x-request-id"]
    lines = logged(server, {"ops-check-1", generated})
    access = {line["request_id"]: line for line in lines if line["logger"] == "app.access"}
    assert access["ops-check-1"]["route"] == "/healthz" and access["ops-check-1"]["status"] == 200
    assert set(access[generated]) >= {"time", "method", "path", "duration_ms", "client"}


def test_the_log_is_json_lines_without_a_secret(server: Server) -> None:
    token = (server.data_dir / TOKEN_FILE_NAME).read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    wrong = "not-the-token-but-a-secret-all-the-same"
    calls = [
        ("POST", "/v1/predict", {"inputs": [[[31415.9265, 1, 2]]], "session_id": "private-7"}, {}),
        ("POST", "/v1/models/1/activate", None, auth),
        ("POST", "/v1/train", {"data": {"series": [27182.818] * 3, "window": 9}}, auth),
        ("POST", "/v1/train", SMALL_JOB, {"Authorization": f"Bearer {wrong}"}),
    ]
    ids = {f"secret-check-{n}" for n in range(len(calls))}
    with server.client() as client:
        statuses = [
            client.request(method, path, json=body, headers={**headers, "X-Request-ID": rid})
            for rid, (method, path, body, headers) in zip(sorted(ids), calls, strict=True)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 422, 403]
    lines = logged(server, ids)  # every line parses as JSON
    assert ids <= {line.get("request_id") for line in lines}
    assert any(line.get("event") == "model_activated" for line in lines)
    text = server.log.read_text()
    for secret in (token, wrong, "Bearer", "31415", "27182", "private-7"):
        assert secret not in text, secret


@dataclass
class Outcome:
    request_id: str
    status: int | None  # None: no answer
    error: str | None  # the transport error's class when there was no answer
    at: float  # monotonic time when it ended


def _load(server: Server, worker: int, stop: threading.Event, outcomes: list[Outcome]) -> None:
    """Predicts until the server stops answering; every request has its own id."""
    body = {"inputs": [[STEP] * 5, [STEP] * 3]}
    with server.client() as client:
        for n in range(100_000):
            if stop.is_set():
                return
            rid = f"load-{worker}-{n}"
            try:
                response = client.post("/v1/predict", json=body, headers={"X-Request-ID": rid})
            except httpx.TransportError as exc:
                outcomes.append(Outcome(rid, None, type(exc).__name__, time.monotonic()))
                return
            outcomes.append(Outcome(rid, response.status_code, None, time.monotonic()))


@pytest.mark.slow
def test_sigterm_under_load_loses_no_accepted_request(tmp_path: Path, checkpoint: Path) -> None:
    data_dir = tmp_path / "var"
    env = clean_env(
        api_token=TOKEN, max_batch_delay_ms=20, shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S
    )
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        with server.client() as client:
            job = submit(client, ENDLESS_JOB)
            wait_for(client, job["id"], lambda j: j["progress"] is not None)
            samples = scrape(client)
        assert value(samples, "lstm_serve_training_jobs", state="running") == 1
        assert 0 < value(samples, "lstm_serve_training_progress_ratio", job_id=job["id"]) < 1
        outcomes, exited_after = _sigterm_during_load(server)
        assert server.process.returncode == 0
        assert exited_after < SHUTDOWN_TIMEOUT_S + STOP_TIMEOUT_S + 5
    served = {
        line["request_id"]: line["status"]
        for line in access_lines(server.log.read_text())
        if line["route"] == "/v1/predict"
    }
    answered = [o for o in outcomes if o.status is not None]
    unanswered = [o for o in outcomes if o.status is None]
    assert len(answered) > 20 and {o.status for o in answered} == {200}
    # No request that reached the app went unanswered: every one the server logged came back.
    assert {o.request_id for o in unanswered} & set(served) == set()
    assert set(served) == {o.request_id for o in answered} and set(served.values()) == {200}
    # Those never reached the app: refused at connect, or an idle keep-alive connection that the
    # server closed as the client sent on it (RemoteProtocolError or ReadError, by the timing).
    assert {o.error for o in unanswered} <= {"ConnectError", "RemoteProtocolError", "ReadError"}
    stored = JobStore(data_dir).get(job["id"])
    assert stored is not None and stored.state == "interrupted"
    assert stored.error is not None and "the server shut down" in stored.error["message"]
    finished = [line for line in log_lines(server.log.read_text()) if line.get("job_id")]
    assert [line["event"] for line in finished][-1] == "job_finished"
    assert finished[-1]["state"] == "interrupted"


def _sigterm_during_load(server: Server) -> tuple[list[Outcome], float]:
    """Six clients predicting; SIGTERM once they are well under way. The outcomes, and how
    long the server took to exit after the signal. Checks that requests were in flight."""
    outcomes: list[Outcome] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(server, n, stop, outcomes)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=SHUTDOWN_TIMEOUT_S + STOP_TIMEOUT_S + 10)
        exited_after = time.monotonic() - signalled
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    # Requests in flight when the signal came were answered, not dropped.
    assert any(o.status == 200 and o.at > signalled for o in outcomes)
    return outcomes, exited_after
