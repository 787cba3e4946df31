"""CSV uploads against a real server with the default limits: a 6 MB series is stored within
100 MB of peak memory while /healthz keeps answering in under 100 ms, a 20,000-column header
is refused in well under a second (it took 9 s of quadratic work), and what the server stores
only its own user can read."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.bad_requests import TOKEN
from tests.support.cost import cost_of
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

CSV = {"content-type": "text/csv", "authorization": f"Bearer {TOKEN}"}
ROWS = 200_000


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    """A server of its own, so its peak memory is its own: the default limits, uploads of up to
    8 MiB."""
    data_dir = tmp_path_factory.mktemp("datasets") / "var"
    env = clean_env(api_token=TOKEN, max_dataset_bytes=8 * 1024 * 1024)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def series() -> bytes:
    """About 6 MB: a date and two numbers a row."""
    numbers = np.random.default_rng(0).normal(size=(ROWS, 2))
    rows = (f"2024-01-{i % 28 + 1:02d},{x:.6f},{y:.6f}\n" for i, (x, y) in enumerate(numbers))
    return ("day,a,b\n" + "".join(rows)).encode()


def test_a_6_mb_series_is_stored_in_little_memory_without_stalling(
    defaults: Server, series: bytes
) -> None:
    assert len(series) > 6_000_000
    with defaults.client() as client:  # first use of the reader's code paths, off the books
        assert client.post("/v1/datasets", content=b"x\n1\n", headers=CSV).status_code == 201
    cost = cost_of(defaults, lambda c: c.post("/v1/datasets", content=series, headers=CSV))
    assert cost.response.status_code == 201, cost.response.text
    assert cost.response.json()["summary"] == {"rows": ROWS, "columns": ["a", "b"]}
    assert cost.peak_growth_mb < 100, cost
    assert cost.slowest_probe_s < 0.1, cost
    assert cost.seconds < 10, cost


def test_a_20000_column_header_is_refused_at_once(defaults: Server) -> None:
    header = ",".join(f"column{i}" for i in range(20_000))
    content = f"{header}\n{','.join(['1'] * 20_000)}\n".encode()
    cost = cost_of(defaults, lambda c: c.post("/v1/datasets", content=content, headers=CSV))
    assert cost.response.status_code == 413, cost.response.text
    error = cost.response.json()["error"]
    assert error["location"] == ["body", "series"]
    assert error["message"] == "the upload: the header has more than 1024 columns; at most 1024"
    assert cost.seconds < 0.5, cost
    assert cost.slowest_probe_s < 0.1, cost


def test_stored_files_are_the_service_users_alone(defaults: Server) -> None:
    with defaults.client() as client:
        dataset = client.post("/v1/datasets", content=b"x,y\n1,2\n", headers=CSV).json()
    path = defaults.data_dir / "datasets" / dataset["id"] / "data.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
