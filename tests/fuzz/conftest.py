"""One app for each fuzz module, shared by all of its examples (tests/support/fuzzing.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.fuzzing import app_client


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tmp_path_factory.mktemp("fuzz")) as client:
        yield client
