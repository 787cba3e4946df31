"""The torch inference backend."""

from __future__ import annotations

import numpy as np
import torch

from model.checkpoint import Checkpoint
from model.errors import InvalidInput
from model.inference import Predictor, RawOutput, State
from model.lstm import LSTMModel


def build_model(checkpoint: Checkpoint) -> LSTMModel:
    """A torch model holding the checkpoint's weights, in eval mode."""
    model = LSTMModel(checkpoint.config)
    state = {key: torch.from_numpy(array.copy()) for key, array in checkpoint.tensors.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


class TorchPredictor(Predictor):
    backend = "torch"
    device = torch.device("cpu")  # where models built from now on run (use_device)

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        self.model = build_model(checkpoint).to(self.device)

    @classmethod
    def use_threads(cls, threads: int) -> None:
        torch.set_num_threads(threads)

    @classmethod
    def use_device(cls, device: str) -> None:
        if device not in ("cpu", "cuda", "auto"):
            raise InvalidInput(f"device is cpu, cuda or auto, not {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise InvalidInput("device is cuda, and this machine has no CUDA device")
        cuda = device != "cpu" and torch.cuda.is_available()
        cls.device = torch.device("cuda" if cuda else "cpu")

    @torch.inference_mode()
    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: State | None,
        return_steps: bool,
    ) -> RawOutput:
        initial = None
        if state is not None:
            h, c = state
            initial = (self._tensor(h), None if c is None else self._tensor(c))
        out = self.model(self._tensor(x), initial, torch.from_numpy(lengths), return_steps)
        steps = _array(out.steps) if out.steps is not None else None
        c_out = None if out.c is None else _array(out.c)
        return RawOutput(_array(out.predictions), _array(out.h), c_out, steps)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        return tensor if self.device.type == "cpu" else tensor.to(self.device)


def _array(tensor: torch.Tensor) -> np.ndarray:
    """On the CPU already (no copy), or copied back from the GPU."""
    return tensor.numpy() if tensor.device.type == "cpu" else tensor.cpu().numpy()
