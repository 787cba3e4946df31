"""Standard scaling of features and targets, fitted on the training split and stored in the
checkpoint, so users send and receive values in their own units."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.errors import InvalidInput

# A constant column has std 0; dividing by it would make every value inf.
_MIN_STD = 1e-8


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray  # (D,) float64, one entry per feature (or target)
    std: np.ndarray  # (D,) float64, never below _MIN_STD

    @classmethod
    def identity(cls, size: int) -> Scaler:
        return cls(np.zeros(size), np.ones(size))

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Fit on values of shape (..., D): statistics over every axis but the last."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1])
        std = flat.std(axis=0)
        return cls(flat.mean(axis=0), np.where(std < _MIN_STD, 1.0, std))

    @classmethod
    def fit_chunks(cls, chunks: Callable[[], Iterable[np.ndarray]]) -> Scaler:
        """`fit` over values that arrive in chunks of shape (..., D), each iteration of
        `chunks()` yielding them all: two passes, the mean and then the spread about it, as
        numpy's std computes them, in float64."""
        count, total = 0, 0.0
        for chunk in chunks():
            flat = np.asarray(chunk, dtype=np.float64).reshape(-1, chunk.shape[-1])
            count, total = count + flat.shape[0], total + flat.sum(axis=0)
        mean = np.asarray(total) / count
        spread = 0.0
        for chunk in chunks():
            flat = np.asarray(chunk, dtype=np.float64).reshape(-1, chunk.shape[-1])
            spread = spread + ((flat - mean) ** 2).sum(axis=0)
        std = np.sqrt(np.asarray(spread) / count)
        return cls(mean, np.where(std < _MIN_STD, 1.0, std))

    @property
    def size(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, values: np.ndarray) -> np.ndarray:
        """User units -> model units, keeping the dtype of `values`."""
        scaled: np.ndarray = ((values - self.mean) / self.std).astype(values.dtype, copy=False)
        return scaled

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Model units -> user units, keeping the dtype of `values`."""
        restored: np.ndarray = (values * self.std + self.mean).astype(values.dtype, copy=False)
        return restored

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: Any, size: int, name: str) -> Scaler:
        """Rebuild from `to_dict` output, checking it fits a model side of `size` entries."""
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            std = np.asarray(data["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} scaling is malformed: {exc}", (name,)) from exc
        if mean.shape != (size,) or std.shape != (size,):
            raise InvalidInput(f"{name} scaling must have {size} entries", (name,))
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise InvalidInput(f"{name} scaling must be finite with positive std", (name,))
        return cls(mean, std)
