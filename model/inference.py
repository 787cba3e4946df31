"""Backend-independent prediction: scaling in user units, padding of ragged batches, and the
`Predictor` interface that the torch and NumPy backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from model.checkpoint import Checkpoint
from model.errors import InvalidInput

# A model's recurrent state: (h, c) of an LSTM, (h, None) of a GRU or an RNN, which have no
# cell state; (num_layers, B, hidden_size) each.
State = tuple[np.ndarray, np.ndarray | None]


class RawOutput(NamedTuple):
    """What a backend computes, in model units."""

    predictions: np.ndarray  # (B, output_size)
    h: np.ndarray  # (num_layers, B, hidden_size)
    c: np.ndarray | None  # (num_layers, B, hidden_size); None but for an LSTM
    steps: np.ndarray | None  # (B, T, output_size)


class Prediction(NamedTuple):
    """What a caller gets, in the user's units."""

    predictions: np.ndarray  # (B, output_size)
    h: np.ndarray  # (num_layers, B, hidden_size)
    c: np.ndarray | None  # (num_layers, B, hidden_size); None but for an LSTM
    steps: list[np.ndarray] | None  # B arrays of (T_b, output_size), unpadded

    @property
    def state(self) -> State:
        return self.h, self.c


def pad_sequences(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """B arrays of (T_b, F) -> zero-padded (B, T_max, F) float32 and lengths (B,) int64."""
    if not sequences:
        raise InvalidInput("the batch needs at least one sequence", ("inputs",))
    lengths = np.array([len(seq) for seq in sequences], dtype=np.int64)
    features = sequences[0].shape[1]
    padded = np.zeros((len(sequences), int(lengths.max()), features), dtype=np.float32)
    for row, seq in enumerate(sequences):
        padded[row, : len(seq)] = seq
    return padded, lengths


class Predictor(ABC):
    """Runs one checkpoint. Subclasses implement `forward` in model units."""

    backend: str = ""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.config = checkpoint.config

    @classmethod  # noqa: B027 (a hook that backends without thread settings leave empty)
    def use_threads(cls, threads: int) -> None:
        """Threads for each forward pass of this backend, set from the thread that runs them.
        The NumPy backend leaves its BLAS library as configured."""

    @classmethod
    def use_device(cls, device: str) -> None:
        """Where this backend's models run from now on: "cpu", "cuda" or "auto" (CUDA when
        present). Backends other than torch run on the CPU alone (InvalidInput otherwise)."""
        if device != "cpu":
            raise InvalidInput(f"the {cls.backend} backend runs on the CPU, not {device}")

    @abstractmethod
    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: State | None,
        return_steps: bool,
    ) -> RawOutput:
        """x: (B, T, F) float32 scaled and zero-padded; lengths: (B,); state: (L, B, H) each."""

    def predict(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: State | None = None,
        return_steps: bool = False,
    ) -> Prediction:
        """x: (B, T, F) in user units, zero-padded after each sequence's length."""
        self.check_shapes(x, lengths, state)
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
            scaled = self.checkpoint.input_scaler.transform(x.astype(np.float32, copy=False))
        if not np.isfinite(scaled).all():
            raise InvalidInput("inputs are too large for the model's scaling", ("inputs",))
        raw = self.forward(scaled, lengths, state, return_steps)
        # Back to user units in float64: float32 would round values in the hundreds to ~1e-5.
        target = self.checkpoint.target_scaler
        steps = None
        if raw.steps is not None:
            unscaled = target.inverse(raw.steps.astype(np.float64))
            steps = [unscaled[row, :length] for row, length in enumerate(lengths.tolist())]
        return Prediction(target.inverse(raw.predictions.astype(np.float64)), raw.h, raw.c, steps)

    def check_shapes(self, x: np.ndarray, lengths: np.ndarray, state: State | None) -> None:
        config = self.config
        if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] != config.input_size:
            raise InvalidInput(
                f"inputs must have shape (B, T, {config.input_size}), got {list(x.shape)}",
                ("inputs",),
            )
        if lengths.shape != (x.shape[0],) or lengths.min() < 1 or lengths.max() > x.shape[1]:
            raise InvalidInput("every sequence needs between 1 and T steps", ("inputs",))
        if state is None:
            return
        h, c = state
        if config.has_cell_state and c is None:
            raise InvalidInput("an lstm's state is h and c: send both", ("state", "c"))
        if not config.has_cell_state and c is not None:
            raise InvalidInput(
                f"a {config.cell} has no cell state: its state is h alone", ("state", "c")
            )
        expected = (config.num_layers, x.shape[0], config.hidden_size)
        for name, array in (("h", h), ("c", c)):
            if array is None:
                continue
            if array.shape != expected:
                raise InvalidInput(
                    f"state.{name} must have shape {list(expected)} "
                    "(num_layers, batch, hidden_size), "
                    f"got {list(array.shape)}",
                    ("state", name),
                )
            if not np.isfinite(array).all():
                raise InvalidInput(f"state.{name} must hold finite numbers", ("state", name))
