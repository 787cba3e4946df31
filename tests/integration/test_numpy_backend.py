"""`serve --backend numpy`: a torch-free server process that answers like the torch backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.servers import running_server

pytestmark = pytest.mark.integration

BODY = {
    "inputs": [[[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], [[2.0, 0.0, -2.0]]],
    "return_state": True,
    "return_sequence": True,
}


def _loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_numpy_backend_never_loads_torch_and_agrees_with_torch(
    tmp_path: Path, small_checkpoint: Path
) -> None:
    answers = {}
    for backend in ("numpy", "torch"):
        data_dir = tmp_path / backend
        with running_server(
            data_dir, "--model", str(small_checkpoint), "--backend", backend
        ) as server:
            with server.client() as client:
                response = client.post("/v1/predict", json=BODY)
            assert response.status_code == 200, response.text
            answers[backend] = response.json()
            has_torch = "libtorch" in _loaded_libraries(server.process.pid)
            assert has_torch == (backend == "torch")
    np.testing.assert_allclose(
        answers["numpy"]["predictions"], answers["torch"]["predictions"], atol=1e-5
    )
    for part in ("h", "c"):
        np.testing.assert_allclose(
            answers["numpy"]["state"][part], answers["torch"]["state"][part], atol=1e-5
        )
