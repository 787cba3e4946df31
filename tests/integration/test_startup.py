"""Start-up of the real command: a missing or corrupt checkpoint stops it with one line on
stderr; the store remembers what it served; SIGTERM shuts down cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from model.lstm import LSTMModel
from tests.support.checkpoints import SMALL_CONFIG
from tests.support.servers import clean_env, run_serve, running_server

pytestmark = pytest.mark.integration

X = [[[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]]]


def assert_refused(result: subprocess.CompletedProcess[str], path: Path, problem: str) -> None:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert result.stderr.startswith("lstm-serve: error: ")
    assert f"{path}: {problem}" in result.stderr


def test_missing_checkpoint_refuses_to_start(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.safetensors"
    result = run_serve(
        "--model", str(missing), "--data-dir", str(tmp_path / "var"), env=clean_env()
    )
    assert_refused(result, missing, "no such file")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json", b"x" * 300],
    ids=["empty", "broken-header", "garbage"],
)
def test_corrupt_checkpoint_refuses_to_start(tmp_path: Path, content: bytes) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(content)
    result = run_serve(
        "--model", str(corrupt), "--data-dir", str(tmp_path / "var"), env=clean_env()
    )
    assert_refused(result, corrupt, "corrupt or truncated safetensors file")


def test_corrupt_stored_version_refuses_to_start(tmp_path: Path, checkpoint: Path) -> None:
    data_dir = tmp_path / "var"
    with running_server(data_dir, "--model", str(checkpoint)):
        pass
    stored = data_dir / "models" / "1" / "model.safetensors"
    stored.write_bytes(stored.read_bytes()[:100])
    result = run_serve("--data-dir", str(data_dir), env=clean_env())
    assert_refused(result, stored, "corrupt or truncated safetensors file")


def test_pickled_pt_file_is_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "whole-model.pt"
    torch.save(LSTMModel(SMALL_CONFIG), pickled)  # a pickled module, not a state_dict
    result = run_serve(
        "--model", str(pickled), "--data-dir", str(tmp_path / "var"), env=clean_env()
    )
    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert str(pickled) in result.stderr


def test_plain_state_dict_is_served_and_remembered(tmp_path: Path) -> None:
    torch.manual_seed(9)
    model = LSTMModel(SMALL_CONFIG).eval()
    weights = tmp_path / "model.pt"
    torch.save(model.state_dict(), weights)
    with torch.no_grad():
        want = model(torch.tensor(X)).predictions.numpy()  # identity scaling for .pt imports
    data_dir = tmp_path / "var"
    with running_server(data_dir, "--model", str(weights), env=clean_env()) as server:
        got = httpx.post(f"{server.url}/v1/predict", json={"inputs": X}).json()
        assert got["model"]["version"] == "1"
        np.testing.assert_allclose(got["predictions"], want, atol=1e-5)
        assert server.stop() == 0  # SIGTERM: graceful, exit status 0
    with running_server(data_dir, env=clean_env()) as server:  # no --model: the active one
        models = httpx.get(f"{server.url}/v1/models").json()
        assert models["active"] == "1" and len(models["versions"]) == 1
        assert models["versions"][0]["source"]["kind"] == "import"


def test_new_data_dir_serves_the_shipped_model(tmp_path: Path) -> None:
    with running_server(tmp_path / "var", env=clean_env()) as server:
        models = httpx.get(f"{server.url}/v1/models").json()
        assert models["active"] == "1"
        assert models["versions"][0]["source"]["kind"] == "shipped"
        detail = httpx.get(f"{server.url}/v1/models/1").json()
        steps = [[1.0] * detail["config"]["input_size"]] * 5
        response = httpx.post(f"{server.url}/v1/predict", json={"inputs": [steps]})
        assert response.status_code == 200
        assert len(response.json()["predictions"][0]) == detail["config"]["output_size"]


def test_a_generated_token_outlives_a_restart(tmp_path: Path, checkpoint: Path) -> None:
    """Clients keep working after a restart; deleting the file is how to get a new token."""
    data_dir = tmp_path / "var"
    tokens = []
    for _ in range(2):
        with running_server(data_dir, "--model", str(checkpoint), env=clean_env()) as server:
            token = (data_dir / "api-token").read_text().strip()
            headers = {"authorization": f"Bearer {token}"}
            activated = httpx.post(f"{server.url}/v1/models/1/activate", headers=headers)
            assert activated.status_code == 200, activated.text
            tokens.append(token)
    assert tokens[0] == tokens[1]
