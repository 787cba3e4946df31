"""`.onnx` files read back as checkpoints (`model/onnx_import.py`): lstm-serve's own exports and
torch.onnx.export's of a user's classic model serve what they compute; anything else is refused
with a message that says what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from model.checkpoint import load_checkpoint
from model.config import LSTMConfig
from model.errors import CheckpointError
from model.inference import pad_sequences
from model.numpy_predictor import NumpyPredictor
from model.onnx_export import export_onnx
from model.onnx_graph import build_graph
from tests.support.checkpoints import make_checkpoint

X, LENGTHS = pad_sequences(
    [np.random.default_rng(1).normal(size=(n, 3)).astype(np.float32) for n in (5, 2)]
)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_an_exported_file_reads_back_as_the_same_model(tmp_path: Path, cell: str) -> None:
    checkpoint = make_checkpoint(4, LSTMConfig(3, 8, 2, 2, cell=cell))  # type: ignore[arg-type]
    path = tmp_path / "model.onnx"
    path.write_bytes(export_onnx(checkpoint.with_metadata(training={"epochs": 7})))
    imported = load_checkpoint(path)
    assert imported.config == checkpoint.config
    assert imported.metadata["training"] == {"epochs": 7}
    assert imported.metadata["imported_from"] == "model.onnx"
    expected = NumpyPredictor(checkpoint).predict(X, LENGTHS)
    got = NumpyPredictor(imported).predict(X, LENGTHS)
    np.testing.assert_allclose(got.predictions, expected.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.h, expected.h, atol=1e-5)


class Classic(torch.nn.Module):
    """A user's own class, exported by torch.onnx.export."""

    def __init__(self, cell: str) -> None:
        super().__init__()
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.recurrent = module(3, 8, 2, batch_first=True)
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(x)
        return self.fc(out[:, -1, :])  # type: ignore[no-any-return]


@pytest.mark.filterwarnings("ignore")  # the TorchScript exporter's deprecation
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torch_onnx_export_of_a_classic_model_serves_what_it_computes(
    tmp_path: Path, cell: str
) -> None:
    torch.manual_seed(0)
    model = Classic(cell).eval()
    path = tmp_path / "classic.onnx"
    torch.onnx.export(model, (torch.randn(2, 5, 3),), str(path), dynamo=False,
                      dynamic_axes={"x": {0: "b", 1: "t"}}, input_names=["x"])  # fmt: skip
    imported = load_checkpoint(path)
    assert imported.config.cell == cell and imported.config.num_layers == 2
    x = np.random.default_rng(0).normal(size=(3, 6, 3)).astype(np.float32)
    expected = model(torch.from_numpy(x)).detach().numpy()
    got = NumpyPredictor(imported).predict(x, np.full(3, 6)).predictions
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _refusal(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
    return caught.value.problem


def test_corrupt_files_are_refused(tmp_path: Path) -> None:
    exported = export_onnx(make_checkpoint())
    assert "not a valid ONNX model" in _refusal(tmp_path, exported[: len(exported) // 2])
    assert "not a valid ONNX model" in _refusal(tmp_path, b"\xff" * 100)


def test_a_model_without_recurrent_layers_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    problem = _refusal(tmp_path, model.SerializeToString())
    assert problem.startswith("no LSTM, GRU or RNN operator (the graph has Relu)")


def _edited(edit: str) -> bytes:
    model = build_graph(make_checkpoint(), with_steps=False)
    if edit == "bidirectional":
        node = next(n for n in model.graph.node if n.op_type == "LSTM")
        node.attribute.append(helper.make_attribute("direction", "bidirectional"))
        del node.attribute[[a.name for a in node.attribute].index("direction")]
    elif edit == "sigmoid":
        output = model.graph.output[0]
        gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
        gemm.output[0] = "linear"
        model.graph.node.append(helper.make_node("Sigmoid", ["linear"], [output.name]))
    elif edit == "no head":
        gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
        model.graph.node.remove(gemm)
        del model.graph.output[0]
    elif edit == "scaled head":
        weight = next(t for t in model.graph.initializer if t.name == "fc.weight")
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 2, "fc.weight"))
        gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
        gemm.attribute.append(helper.make_attribute("alpha", 0.5))
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("bidirectional", "runs bidirectional; only forward layers are served"),
        ("sigmoid", "the head's result is not the graph's output"),
        ("no head", "no linear head"),
        ("scaled head", "scales or transposes its input"),
    ],
)
def test_what_is_not_the_classic_regressor_is_refused(
    tmp_path: Path, edit: str, message: str
) -> None:
    assert message in _refusal(tmp_path, _edited(edit))


def test_a_graph_computing_more_than_it_shows_is_refused(tmp_path: Path) -> None:
    """A Gemm whose input is not the top layer's state: the shapes fit, the numbers do not."""
    model = build_graph(make_checkpoint(), with_steps=False)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    model.graph.node.insert(
        list(model.graph.node).index(gemm), helper.make_node("Neg", ["h_top"], ["negated"])
    )
    gemm.input[0] = "negated"
    onnx.checker.check_model(model)
    assert "the graph computes something more" in _refusal(tmp_path, model.SerializeToString())
