"""The torch inference backend."""

from __future__ import annotations

import numpy as np
import torch

from model.checkpoint import Checkpoint
from model.inference import Predictor, RawOutput
from model.lstm import LSTMModel


def build_model(checkpoint: Checkpoint) -> LSTMModel:
    """A torch model holding the checkpoint's weights, in eval mode."""
    model = LSTMModel(checkpoint.config)
    state = {key: torch.from_numpy(array.copy()) for key, array in checkpoint.tensors.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


class TorchPredictor(Predictor):
    backend = "torch"

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        self.model = build_model(checkpoint)

    @classmethod
    def use_threads(cls, threads: int) -> None:
        torch.set_num_threads(threads)

    @torch.inference_mode()
    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None,
        return_steps: bool,
    ) -> RawOutput:
        initial = None
        if state is not None:
            initial = (
                torch.from_numpy(np.ascontiguousarray(state[0], dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(state[1], dtype=np.float32)),
            )
        out = self.model(torch.from_numpy(x), initial, torch.from_numpy(lengths), return_steps)
        steps = out.steps.numpy() if out.steps is not None else None
        return RawOutput(out.predictions.numpy(), out.h.numpy(), out.c.numpy(), steps)
