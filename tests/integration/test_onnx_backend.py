"""`serve --backend onnx --model model.onnx`: a server process without libtorch that imports an
exported ONNX file and answers /v1 (ragged, state, sessions) and /v2 as the torch backend answers
the original checkpoint; a corrupt or foreign .onnx file is refused at start with one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from onnx import TensorProto, helper

from model.checkpoint import Checkpoint
from model.inference import Prediction, pad_sequences
from model.onnx_export import export_onnx
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint
from tests.support.servers import Server, clean_env, run_serve, running_server

pytestmark = pytest.mark.integration

SEQUENCES = [[[0.1, 0.2, 0.3], [1.0, -1.0, 0.5], [0.3, 0.3, 2.0]], [[2.0, 0.0, -2.0]]]


@pytest.fixture(scope="module")
def original() -> Checkpoint:
    return make_checkpoint(seed=3)


@pytest.fixture(scope="module")
def onnx_server(tmp_path_factory: pytest.TempPathFactory, original: Checkpoint) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("onnx")
    exported = root / "model.onnx"
    exported.write_bytes(export_onnx(original))
    args = ("--model", str(exported), "--backend", "onnx")
    with running_server(root / "var", *args, env=clean_env(no_auth=True)) as server:
        yield server


def _torch(original: Checkpoint, state: tuple[np.ndarray, np.ndarray] | None = None) -> Prediction:
    """What the torch backend answers for SEQUENCES with the original checkpoint."""
    x, lengths = pad_sequences([np.asarray(s, np.float32) for s in SEQUENCES])
    return TorchPredictor(original).predict(x, lengths, state, return_steps=True)


def _post(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_server_process_has_no_libtorch(onnx_server: Server) -> None:
    maps = Path(f"/proc/{onnx_server.process.pid}/maps").read_text()
    assert "onnxruntime" in maps and "libtorch" not in maps


def test_v1_ragged_with_state_equals_torch(onnx_server: Server, original: Checkpoint) -> None:
    rng = np.random.default_rng(0)
    h0, c0 = (rng.normal(size=(2, 2, 8)).astype(np.float32) for _ in range(2))
    body = {"inputs": SEQUENCES, "state": {"h": h0.tolist(), "c": c0.tolist()},
            "return_state": True, "return_sequence": True}  # fmt: skip
    answer = _post(onnx_server, "/v1/predict", body)
    expected = _torch(original, (h0, c0))
    np.testing.assert_allclose(answer["predictions"], expected.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(answer["state"]["h"], expected.h, atol=1e-5)
    np.testing.assert_allclose(answer["state"]["c"], expected.c, atol=1e-5)
    assert expected.steps is not None
    for got, want in zip(answer["sequence"], expected.steps, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_session_continued_equals_the_whole(onnx_server: Server, original: Checkpoint) -> None:
    first, rest = SEQUENCES[0][:1], SEQUENCES[0][1:]
    _post(onnx_server, "/v1/predict", {"inputs": [first], "session_id": "s-1"})
    answer = _post(onnx_server, "/v1/predict", {"inputs": [rest], "session_id": "s-1"})
    np.testing.assert_allclose(
        answer["predictions"][0], _torch(original).predictions[0], rtol=1e-5, atol=1e-5
    )


def test_v2_infer_equals_torch(onnx_server: Server, original: Checkpoint) -> None:
    x, lengths = pad_sequences([np.asarray(s, np.float32) for s in SEQUENCES])
    tensors = [("inputs", x, "FP32"), ("lengths", lengths, "INT32")]
    body = {
        "inputs": [{"name": name, "shape": list(array.shape), "datatype": datatype,
                    "data": array.reshape(-1).tolist()} for name, array, datatype in tensors],
        "outputs": [{"name": "predictions"}, {"name": "hn"}, {"name": "cn"}],
    }  # fmt: skip
    answer = _post(onnx_server, "/v2/models/lstm/infer", body)
    got = {o["name"]: np.reshape(o["data"], o["shape"]) for o in answer["outputs"]}
    expected = _torch(original)
    np.testing.assert_allclose(got["predictions"], expected.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["hn"], expected.h, atol=1e-5)
    np.testing.assert_allclose(got["cn"], expected.c, atol=1e-5)


def _foreign() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (export_onnx(make_checkpoint())[:500], "not a valid ONNX model"),
        (_foreign(), "no LSTM, GRU or RNN operator (the graph has Relu)"),
    ],
    ids=["truncated", "foreign"],
)
def test_a_corrupt_or_foreign_onnx_file_is_refused_at_start(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    args = ("--model", str(path), "--backend", "onnx", "--data-dir", str(tmp_path / "var"))
    result = run_serve(*args, env=clean_env())
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert result.stderr.startswith(f"lstm-serve: error: {path}: {problem}")
