"""Backends by name: the predictor of `torch`, `numpy` and `onnx` (ONNX Runtime), and the
training engine of `torch` and `numpy`. Modules are imported on first use only, so a process
that serves with NumPy or ONNX Runtime, or trains with NumPy, never imports torch. The one place
that maps a backend's name to its code."""

from __future__ import annotations

import importlib
from typing import Literal, Protocol, get_args

from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import Samples
from model.inference import Predictor
from model.train_loop import ProgressCallback, StopHook, TrainParams, TrainResult
from model.train_state import Checkpointing

Backend = Literal["torch", "numpy", "onnx"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
TrainingBackend = Literal["torch", "numpy"]  # ONNX Runtime serves; it does not train
TRAINING_BACKENDS: tuple[TrainingBackend, ...] = get_args(TrainingBackend)

_PREDICTORS = {
    "torch": ("model.torch_predictor", "TorchPredictor"),
    "numpy": ("model.numpy_predictor", "NumpyPredictor"),
    "onnx": ("model.onnx_predictor", "OnnxPredictor"),
}
_TRAINERS = {
    "torch": ("model.torch_trainer", "train_torch"),
    "numpy": ("model.numpy_trainer", "train_numpy"),
}


class Trainer(Protocol):
    """A training engine: the same contract for both (`model.train_loop` holds the loop)."""

    def __call__(
        self,
        config: LSTMConfig,
        data: Samples,
        params: TrainParams,
        on_progress: ProgressCallback | None = None,
        should_stop: StopHook | None = None,
        init_from: Checkpoint | None = None,
        checkpointing: Checkpointing | None = None,
        device: str = "cpu",
        data_workers: int = 0,
    ) -> TrainResult: ...


def predictor_class(backend: Backend) -> type[Predictor]:
    """The backend's Predictor class; ImportError when its libraries are not installed."""
    module_name, class_name = _PREDICTORS[backend]
    cls: type[Predictor] = getattr(importlib.import_module(module_name), class_name)
    return cls


def trainer(backend: TrainingBackend) -> Trainer:
    """The backend's training function."""
    module_name, function_name = _TRAINERS[backend]
    train: Trainer = getattr(importlib.import_module(module_name), function_name)
    return train
