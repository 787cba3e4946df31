"""Compression bombs against a real server with the default limits: a 456-byte .npz whose bzip2
member unpacks into 300 MB while its header and directory claim 3 numbers (what an attacker sent:
zipfile inflates bzip2 in one step, so the server believed the sizes and spent 575 MB), and
deflated ones that fit the 8 MiB body limit and unpack into 512 MB. Each answers 4xx at once,
the server's peak memory barely moves, and /healthz keeps answering."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bad_requests import TOKEN
from tests.support.cost import Cost, cost_of
from tests.support.npy_files import bomb, header
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

NPZ = {"content-type": "application/x-npz"}
UNPACKED = 512 * 1024 * 1024


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    """A server of its own, so its peak memory is its own: the default limits."""
    data_dir = tmp_path_factory.mktemp("bombs") / "var"
    with running_server(data_dir, "--model", str(checkpoint), env=clean_env(api_token=TOKEN)) as s:
        yield s


@pytest.fixture(scope="module")
def bz2_bomb() -> bytes:
    claims = (1, 1, 3)
    archive = bomb(300_000_000, shape=claims, declared=len(header(shape=claims)) + 3 * 8)
    assert len(archive) < 500
    return archive


def assert_cheap(cost: Cost) -> None:
    assert cost.seconds < 0.5, cost
    assert cost.peak_growth_mb < 100, cost
    assert cost.slowest_probe_s < 0.1, cost


def test_the_456_byte_bz2_bomb_is_refused_unopened(defaults: Server, bz2_bomb: bytes) -> None:
    cost = cost_of(defaults, lambda c: c.post("/v1/predict", content=bz2_bomb, headers=NPZ))
    assert cost.response.status_code == 400, cost.response.text
    assert cost.response.json()["error"]["code"] == "invalid_body"
    assert "compression method 12" in cost.response.json()["error"]["message"]
    assert_cheap(cost)


def test_the_bz2_bomb_as_a_data_set_is_refused_and_not_stored(
    defaults: Server, bz2_bomb: bytes
) -> None:
    headers = {**NPZ, "authorization": f"Bearer {TOKEN}"}
    cost = cost_of(defaults, lambda c: c.post("/v1/datasets", content=bz2_bomb, headers=headers))
    assert cost.response.status_code == 400, cost.response.text
    assert cost.response.json()["error"]["location"] == ["body"]
    assert_cheap(cost)
    assert httpx.get(f"{defaults.url}/v1/datasets").json()["datasets"] == []


@pytest.mark.parametrize(
    ("shape", "status"),
    [(None, 413), ((1, 1, 3), 400)],
    ids=["header-claims-it-all", "header-claims-three-numbers"],
)
def test_a_deflate_bomb_within_the_body_limit_is_refused_unpacked(
    defaults: Server, shape: tuple[int, ...] | None, status: int
) -> None:
    """An honest header is refused before any data is read; a lying one once the data runs
    past what it claims."""
    archive = bomb(UNPACKED, zipfile.ZIP_DEFLATED, shape)
    assert len(archive) < 8 * 1024 * 1024
    cost = cost_of(defaults, lambda c: c.post("/v1/predict", content=archive, headers=NPZ))
    assert cost.response.status_code == status, cost.response.text
    assert_cheap(cost)
