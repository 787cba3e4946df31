"""A data set larger than a training worker's memory, on a real server: an .npy series of
640 MiB is uploaded while the server's memory grows by a fraction of it (the body streams to
the disk), then a job trains on it, memory-mapped, in a worker whose heap is limited to
512 MiB (TRAINING_MEMORY_BYTES: RLIMIT_DATA), which the series read into memory does not fit,
as the control shows."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.bad_requests import TOKEN
from tests.support.cost import cost_of
from tests.support.jobs import submit, wait_for
from tests.support.servers import Server, clean_env, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIB = 1 << 20
MEMORY_LIMIT = 512 * MIB  # torch alone takes about 300 MiB of it
ROWS, FEATURES = 163_840, 1024  # 640 MiB of float32
NPY = {"content-type": "application/x-npy", "authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def big_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learnable series (column 0 repeats column 1 a step later), written a block at a time
    so the test process never holds it."""
    path = tmp_path_factory.mktemp("series") / "big.npy"
    series = np.lib.format.open_memmap(path, "w+", np.float32, (ROWS, FEATURES))
    rng = np.random.default_rng(0)
    for start in range(0, ROWS, 16_384):
        block = rng.normal(size=(min(16_384, ROWS - start), FEATURES)).astype(np.float32)
        series[start : start + len(block)] = block
    series[1:, 0] = series[:-1, 1]
    series.flush()
    del series
    assert path.stat().st_size > MEMORY_LIMIT * 1.2
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    env = clean_env(api_token=TOKEN, max_dataset_bytes=1 << 30, max_datasets_bytes=2 << 30,
                    max_model_input_size=FEATURES, max_training_samples=ROWS,
                    training_memory_bytes=MEMORY_LIMIT, training_data_workers=1)  # fmt: skip
    data_dir = tmp_path_factory.mktemp("on-disk") / "var"
    with running_server(data_dir, "--model", str(checkpoint), env=env) as running:
        yield running


def _chunks(path: Path) -> Iterator[bytes]:
    """The file as a client streams it (a body of unknown length, sent in pieces)."""
    with path.open("rb") as handle:
        while chunk := handle.read(4 * MIB):
            yield chunk


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_the_limit_is_too_small_for_the_series_in_memory(big_series: Path) -> None:
    """The control: under the workers' limit, reading the file into memory fails."""
    read = subprocess.run(
        [sys.executable, "-c", f"import numpy as np; np.load({str(big_series)!r})"],
        capture_output=True,
        text=True,
        preexec_fn=_limited,
        timeout=120,
        check=False,
    )
    assert read.returncode != 0 and "MemoryError" in read.stderr


def test_a_series_larger_than_a_workers_memory_uploads_and_trains(
    server: Server, big_series: Path
) -> None:
    cost = cost_of(
        server, lambda c: c.post("/v1/datasets", content=_chunks(big_series), headers=NPY)
    )
    assert cost.response.status_code == 201, cost.response.text
    dataset = cost.response.json()
    assert dataset["format"] == "npy" and dataset["bytes"] == big_series.stat().st_size
    assert dataset["summary"] == {"rows": ROWS, "features": FEATURES, "dtype": "float32"}
    assert cost.peak_growth_mb < 64, cost  # of a 640 MiB upload
    body = {
        "data": {"dataset_id": dataset["id"], "window": 2, "target_columns": [0]},
        "model": {"hidden_size": 4},
        "training": {"epochs": 2, "batch_size": 1024, "learning_rate": 0.05},
        "activate": "never",
    }
    with server.client() as client:
        job = wait_for(client, submit(client, body)["id"], timeout=300)
    assert job["state"] == "succeeded", job
    assert job["data"]["n"] == ROWS - 2 and job["data"]["input_size"] == FEATURES
    # Column 0 at the next step is column 1 now: well below the variance (1.0) of guessing.
    assert job["result"]["val_mse"] < 0.9, job["result"]
