"""`model/onnx_export.py`: the exported file, run by plain onnxruntime (no code of ours), equals
the torch backend's predictions and states, ragged and continued, for every cell, and for the
shipped model; its scaling is folded into the weights and its metadata is in metadata_props."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from model.checkpoint import Checkpoint, load_checkpoint
from model.config import LSTMConfig
from model.inference import pad_sequences
from model.numpy_predictor import NumpyPredictor
from model.onnx_export import export_onnx, fold_scaling
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint

SHIPPED = Path(str(files("model").joinpath("pretrained", "sunspots.safetensors")))
CONFIGS = {
    "lstm-2-layers": LSTMConfig(input_size=3, hidden_size=8, num_layers=2, output_size=2),
    "gru-2-layers": LSTMConfig(3, 8, 2, 2, cell="gru"),
    "rnn-tanh": LSTMConfig(3, 8, 2, 1, cell="rnn"),
    "rnn-relu": LSTMConfig(3, 8, 1, 2, cell="rnn", nonlinearity="relu"),
}


def _checkpoint(name: str) -> Checkpoint:
    return load_checkpoint(SHIPPED) if name == "shipped" else make_checkpoint(3, CONFIGS[name])


def _session(checkpoint: Checkpoint) -> ort.InferenceSession:
    return ort.InferenceSession(export_onnx(checkpoint), providers=["CPUExecutionProvider"])


def _run(
    session: ort.InferenceSession, sequences: list[np.ndarray], state: list[np.ndarray]
) -> list[np.ndarray]:
    """The file as a user runs it: user units in, user units out."""
    x, lengths = pad_sequences(sequences)
    feed = {"input": x, "sequence_lens": lengths.astype(np.int32), "initial_h": state[0]}
    if len(state) > 1:
        feed["initial_c"] = state[1]
    outputs: list[np.ndarray] = session.run(None, feed)
    return outputs


def _sequences(checkpoint: Checkpoint, lengths: list[int]) -> list[np.ndarray]:
    """In the user's units: around the input scaling's mean, a few of its std apart."""
    rng = np.random.default_rng(7)
    scaler = checkpoint.input_scaler
    return [
        (scaler.mean + scaler.std * rng.normal(size=(n, checkpoint.config.input_size))).astype(
            np.float32
        )
        for n in lengths
    ]


def _zeros(config: LSTMConfig, batch: int) -> list[np.ndarray]:
    zeros = np.zeros((config.num_layers, batch, config.hidden_size), np.float32)
    return [zeros, zeros] if config.has_cell_state else [zeros]


@pytest.mark.parametrize("name", ["shipped", *CONFIGS])
def test_the_file_equals_the_torch_backend_ragged_and_continued(name: str) -> None:
    checkpoint = _checkpoint(name)
    config, session = checkpoint.config, _session(checkpoint)
    torch_predictor = TorchPredictor(checkpoint)
    whole = _sequences(checkpoint, [9, 4, 12])
    x, lengths = pad_sequences(whole)
    expected = torch_predictor.predict(x, lengths, return_steps=True)
    got = _run(session, whole, _zeros(config, 3))
    np.testing.assert_allclose(got[0], expected.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], expected.h, atol=1e-5)
    if config.has_cell_state:
        np.testing.assert_allclose(got[2], expected.c, atol=1e-5)
    assert expected.steps is not None
    for row, steps in enumerate(expected.steps):  # per step, up to each sequence's length
        np.testing.assert_allclose(got[-1][row, : len(steps)], steps, rtol=1e-5, atol=1e-5)
    # Continued: the first 3 steps, then the rest from the file's own returned state.
    first = _run(session, [seq[:3] for seq in whole], _zeros(config, 3))
    rest = _run(session, [seq[3:] for seq in whole], first[1 : 2 + config.has_cell_state])
    np.testing.assert_allclose(rest[0], expected.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rest[1], expected.h, atol=1e-5)
    if config.has_cell_state:
        np.testing.assert_allclose(rest[2], expected.c, atol=1e-5)


def test_folding_the_scaling_keeps_predictions_and_states() -> None:
    checkpoint = make_checkpoint(5)
    folded = fold_scaling(checkpoint)
    assert not folded.input_scaler.mean.any() and (folded.target_scaler.std == 1).all()
    x, lengths = pad_sequences(_sequences(checkpoint, [6, 2]))
    before = NumpyPredictor(checkpoint).predict(x, lengths)
    after = NumpyPredictor(folded).predict(x, lengths)
    np.testing.assert_allclose(after.predictions, before.predictions, rtol=1e-5)
    np.testing.assert_allclose(after.h, before.h, atol=1e-6)


def test_the_file_is_a_standard_model_with_dynamic_axes_and_our_metadata() -> None:
    checkpoint = make_checkpoint(1).with_metadata(training={"epochs": 3})
    model = onnx.load_from_string(export_onnx(checkpoint))
    onnx.checker.check_model(model, full_check=True)
    assert [node.op_type for node in model.graph.node].count("LSTM") == 2
    inputs = {value.name: value for value in model.graph.input}
    assert list(inputs) == ["input", "sequence_lens", "initial_h", "initial_c"]
    dims = inputs["input"].type.tensor_type.shape.dim
    assert [dims[0].dim_param, dims[1].dim_param, dims[2].dim_value] == ["batch", "steps", 3]
    assert [value.name for value in model.graph.output] == ["prediction", "Y_h", "Y_c", "steps"]
    props = {prop.key: prop.value for prop in model.metadata_props}
    header = json.loads(props["lstm_serve"])
    assert header["config"] == checkpoint.config.to_dict()
    assert header["training"] == {"epochs": 3} and header["scaling"] == "folded"
    assert props["cell"] == "lstm"
