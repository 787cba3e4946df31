"""The Docker image, built and run for real (podman through ../shared/tools/container, since this
machine has no Docker engine): health, predictions from the host, a training job with the token
read from a mounted secret file, a restart on the same /data volume (the token from the
environment then), a non-root process, and a log of JSON lines with request ids and no token.

Selected with `pytest -m container` (`make test-container`); it needs root for podman."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import SMALL_JOB, settled
from tests.support.observability import access_lines, log_lines
from tests.support.servers import free_port

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT.parent / "shared" / "tools" / "container"
IMAGE = "lstm-serve:test"
RUNTIME_UID = 10001  # the Dockerfile's USER
TOKEN = "container-test-token"
SECRET_PATH = "/run/secrets/lstm_token"  # where Docker (compose, swarm) mounts a secret


def _container(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Output goes through a file: `run` leaves conmon holding the pipes a capture would wait on.
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            [str(CONTAINER), *args], stdout=out, stderr=subprocess.STDOUT, text=True,
            timeout=1200, check=False,
        )  # fmt: skip
        out.seek(0)
        result = subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")
    if check and result.returncode != 0:
        raise AssertionError(f"container {' '.join(args)} failed: {result.stdout[-3000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    if not CONTAINER.exists():
        pytest.fail(f"{CONTAINER} is missing: the container test needs it to run podman")
    # No route to the PyTorch index here: torch comes from the local CPU wheel the tool mounts.
    env = {**os.environ, "CONTAINER_BUILD_ARGS": "--build-arg TORCH_INDEX_URL="}
    started = time.monotonic()
    built = subprocess.run(
        [str(CONTAINER), "build", str(ROOT), IMAGE], capture_output=True, text=True,
        env=env, timeout=1200, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    print(f"image built in {time.monotonic() - started:.0f} s")
    return IMAGE


class Running:
    def __init__(self, name: str, port: int) -> None:
        self.name, self.url = name, f"http://127.0.0.1:{port}"

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _container("health", self.name, check=False).returncode == 0:
                return
            time.sleep(1)
        logs = _container("logs", self.name, check=False)
        pytest.fail(f"container {self.name} not healthy: {logs.stdout[-2000:]}")


@pytest.fixture
def data_volume(tmp_path: Path) -> Iterator[Path]:
    volume = tmp_path / "data"
    volume.mkdir()
    os.chown(volume, RUNTIME_UID, RUNTIME_UID)  # the image's user owns /data
    yield volume
    shutil.rmtree(volume, ignore_errors=True)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """The token as a Docker secret would hold it: a file only the service's user reads."""
    path = tmp_path / "lstm_token"
    path.write_text(f"{TOKEN}\n")
    os.chown(path, RUNTIME_UID, RUNTIME_UID)
    path.chmod(0o600)
    return path


def _start(image: str, volume: Path, port: int, token_file: Path | None = None) -> Running:
    """The token from `token_file`, mounted as a secret; without one, from the environment."""
    name = f"lstm-serve-test-{uuid.uuid4().hex[:8]}"
    token = ["-e", f"LSTM_SERVE_API_TOKEN={TOKEN}"]
    if token_file is not None:
        secret = f"{token_file}:{SECRET_PATH}:ro"
        token = ["-v", secret, "-e", f"LSTM_SERVE_API_TOKEN_FILE={SECRET_PATH}"]
    _container(
        "run", image, name, "-e", f"LSTM_SERVE_PORT={port}", *token, "-v", f"{volume}:/data",
    )  # fmt: skip
    running = Running(name, port)
    running.wait_healthy()
    return running


def test_image_serves_persists_and_runs_as_non_root(
    image: str, data_volume: Path, token_file: Path
) -> None:
    port = free_port()
    first = _start(image, data_volume, port, token_file)
    try:
        assert _container("exec", first.name, "id", "-u").stdout.strip() == str(RUNTIME_UID)
        with httpx.Client(base_url=first.url, timeout=30) as client:
            answer = client.post(
                "/v1/predict", json={"inputs": [[[80.0], [60.0], [40.0]]]},
                headers={"X-Request-ID": "container-predict-1"},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"]["version"] == "1"
            assert answer.headers["x-request-id"] == "container-predict-1"
            job = _train(client)
            assert job["state"] == "succeeded" and job["model_version"] == "2"
            before = {path: client.get(path).json() for path in ("/v1/models", "/v1/train")}
            assert "lstm_serve_requests_total" in client.get("/metrics").text
        _check_log(first.name)
    finally:
        _container("stop", first.name, check=False)
    assert (data_volume / "lstm-serve.db").exists()
    second = _start(image, data_volume, port)
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            assert {path: client.get(path).json() for path in before} == before
            assert client.get(f"/v1/train/{job['id']}").json()["state"] == "succeeded"
            activated = client.post(
                "/v1/models/2/activate", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert activated.status_code == 200, activated.text
    finally:
        _container("stop", second.name, check=False)


def _check_log(name: str) -> None:
    """JSON lines (the image sets LSTM_SERVE_LOG_FORMAT=json), one access line per request with
    its id, the job's lifecycle, and never the token."""
    text = _container("logs", name).stdout
    lines = log_lines(text)  # every line parses
    access = {line["request_id"]: line for line in access_lines(text)}
    assert access["container-predict-1"]["route"] == "/v1/predict"
    assert access["container-predict-1"]["status"] == 200
    events = {line.get("event") for line in lines}
    assert {"job_queued", "job_started", "job_finished", "job_activation"} <= events
    assert TOKEN not in text and "Bearer" not in text


def _train(client: httpx.Client) -> dict[str, object]:
    """A tiny job through the management API, followed until it settles."""
    refused = client.post("/v1/train", json=SMALL_JOB)
    assert refused.status_code == 401
    started = client.post(
        "/v1/train", json={**SMALL_JOB, "activate": "always"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(started.headers["Location"]).json()
        if settled(job):
            return job
        time.sleep(0.5)
    pytest.fail(f"job did not finish: {job}")
