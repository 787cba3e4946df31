"""The NumPy inference backend: the classic model's forward pass in float32 with
`model.numpy_model` (LSTM, GRU or RNN layers), serving without torch ever being imported."""

from __future__ import annotations

import numpy as np

from model.checkpoint import Checkpoint
from model.inference import Predictor, RawOutput, State
from model.numpy_model import predict


class NumpyPredictor(Predictor):
    backend = "numpy"

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        # Contiguous float32 once, so no request pays for a cast or copy of the weights.
        self.params = {
            key: np.ascontiguousarray(array, dtype=np.float32)
            for key, array in checkpoint.tensors.items()
        }

    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: State | None,
        return_steps: bool,
    ) -> RawOutput:
        h0, c0 = state if state is not None else (None, None)
        predictions, h, c, steps = predict(
            x.astype(np.float32, copy=False),
            self.params,
            None if h0 is None else h0.astype(np.float32, copy=False),
            None if c0 is None else c0.astype(np.float32, copy=False),
            lengths,
            return_steps,
            self.config.nonlinearity,
        )
        return RawOutput(predictions, h, c, steps)
