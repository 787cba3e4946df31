"""Devices: the torch engine and predictor run where they are told ("auto": CUDA when
present) and refuse a CUDA device the machine does not have; the NumPy ones run on the CPU only.
On a machine with CUDA the same calls must train and predict on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import LSTMConfig
from model.data import SequenceData, from_arrays
from model.errors import InvalidInput
from model.numpy_predictor import NumpyPredictor
from model.numpy_trainer import train_numpy
from model.torch_predictor import TorchPredictor
from model.torch_trainer import train_torch
from model.train_loop import TrainParams
from tests.support.checkpoints import make_checkpoint

CONFIG = LSTMConfig(input_size=2, hidden_size=4, num_layers=1, output_size=1)
PARAMS = TrainParams(epochs=2, batch_size=8, seed=0, num_threads=1)
CUDA = torch.cuda.is_available()


def _data() -> SequenceData:
    x = np.random.default_rng(0).normal(size=(32, 5, 2)).astype(np.float32)
    return from_arrays(x, x[:, -1, :1])


def test_auto_trains_on_cuda_when_present_else_exactly_as_on_the_cpu() -> None:
    on_cpu = train_torch(CONFIG, _data(), PARAMS, device="cpu")
    auto = train_torch(CONFIG, _data(), PARAMS, device="auto")
    for key, array in on_cpu.checkpoint.tensors.items():
        tolerance = 1e-4 if CUDA else 0.0  # another device sums in another order
        np.testing.assert_allclose(auto.checkpoint.tensors[key], array, rtol=0, atol=tolerance)


def test_cuda_is_refused_without_a_cuda_device_and_by_the_numpy_engine() -> None:
    if CUDA:
        train_torch(CONFIG, _data(), PARAMS, device="cuda")
    else:
        with pytest.raises(InvalidInput, match="no CUDA device"):
            train_torch(CONFIG, _data(), PARAMS, device="cuda")
    with pytest.raises(InvalidInput, match="CPU"):
        train_numpy(CONFIG, _data(), PARAMS, device="cuda")
    with pytest.raises(InvalidInput):
        train_torch(CONFIG, _data(), PARAMS, device="tpu")


def test_predictors_serve_on_the_device_they_are_given() -> None:
    checkpoint = make_checkpoint(0)
    x = np.zeros((2, 3, checkpoint.config.input_size), np.float32)
    lengths = np.array([3, 2])
    expected = TorchPredictor(checkpoint).forward(x, lengths, None, True)
    try:
        TorchPredictor.use_device("auto")
        auto = TorchPredictor(checkpoint)
        assert auto.device.type == ("cuda" if CUDA else "cpu")
        got = auto.forward(x, lengths, None, True)
        np.testing.assert_allclose(got.predictions, expected.predictions, atol=1e-5)
        assert got.steps is not None and expected.steps is not None
        np.testing.assert_allclose(got.steps, expected.steps, atol=1e-5)
        if not CUDA:
            with pytest.raises(InvalidInput, match="no CUDA device"):
                TorchPredictor.use_device("cuda")
    finally:
        TorchPredictor.use_device("cpu")
    with pytest.raises(InvalidInput, match="runs on the CPU"):
        NumpyPredictor.use_device("cuda")
    NumpyPredictor.use_device("cpu")
