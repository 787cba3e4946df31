"""The ONNX Runtime backend (`model/onnx_predictor.py`) answers what the torch backend answers:
every cell, ragged batches, a given state, per-step outputs; it runs on the CPU unless the
installed onnxruntime has CUDA."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from model.config import LSTMConfig
from model.errors import InvalidInput
from model.inference import pad_sequences
from model.onnx_predictor import OnnxPredictor
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint

CONFIGS = [
    LSTMConfig(input_size=3, hidden_size=8, num_layers=2, output_size=2),
    LSTMConfig(3, 8, 1, 1),
    LSTMConfig(3, 8, 2, 2, cell="gru"),
    LSTMConfig(3, 8, 2, 1, cell="rnn"),
    LSTMConfig(3, 8, 2, 1, cell="rnn", nonlinearity="relu"),
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"{c.cell}-{c.nonlinearity}-{c.num_layers}"
)
def test_onnx_equals_torch_ragged_with_state_and_steps(config: LSTMConfig) -> None:
    checkpoint = make_checkpoint(2, config)
    rng = np.random.default_rng(0)
    x, lengths = pad_sequences([rng.normal(size=(n, 3)).astype(np.float32) for n in (7, 1, 4)])
    shape = (config.num_layers, 3, config.hidden_size)
    h0 = rng.normal(size=shape).astype(np.float32)
    c0 = rng.normal(size=shape).astype(np.float32) if config.has_cell_state else None
    for state in (None, (h0, c0)):
        expected = TorchPredictor(checkpoint).predict(x, lengths, state, return_steps=True)
        got = OnnxPredictor(checkpoint).predict(x, lengths, state, return_steps=True)
        np.testing.assert_allclose(got.predictions, expected.predictions, atol=1e-5)
        np.testing.assert_allclose(got.h, expected.h, atol=1e-5)
        if config.has_cell_state:
            np.testing.assert_allclose(got.c, expected.c, atol=1e-5)
        else:
            assert got.c is None
        assert got.steps is not None and expected.steps is not None
        for mine, theirs in zip(got.steps, expected.steps, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-5)


def test_steps_past_a_length_are_zero_in_model_units() -> None:
    predictor = OnnxPredictor(make_checkpoint())
    x = np.zeros((2, 4, 3), np.float32)
    raw = predictor.forward(x, np.array([4, 2]), None, True)
    assert raw.steps is not None and not raw.steps[1, 2:].any()


def test_threads_apply_to_sessions_built_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OnnxPredictor, "threads", 1)
    OnnxPredictor.use_threads(2)
    predictor = OnnxPredictor(make_checkpoint())
    assert predictor.session.get_session_options().intra_op_num_threads == 2


def test_cuda_is_refused_without_a_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OnnxPredictor, "providers", OnnxPredictor.providers)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(InvalidInput, match="no CUDA execution provider"):
        OnnxPredictor.use_device("cuda")
    OnnxPredictor.use_device("auto")
    assert OnnxPredictor.providers == ("CPUExecutionProvider",)
