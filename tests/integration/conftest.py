"""Fixtures of the real-server tests: one `lstm-serve serve` process for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bad_requests import LIMITS, TOKEN
from tests.support.checkpoints import write_checkpoint
from tests.support.servers import Server, clean_env, running_server


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("models") / "small.safetensors", seed=0)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Server]:
    """The shared server: the small model, the limits and token of tests/support/bad_requests.py."""
    data_dir = tmp_path_factory.mktemp("server") / "var"
    env = clean_env(**LIMITS, api_token=TOKEN)
    with running_server(data_dir, "--model", str(checkpoint), env=env) as server:
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
