"""The two tasks of the truncation study, each with a known baseline: the loss of a model that
cannot remember across the lag.

- **echo** (per-step targets): x_t ~ N(0, 1), one feature; the target at step t is x_{t-d}, and
  0 for t < d. A model without memory predicts 0 and scores (T - d) / T, the no-memory baseline.
- **adding** (sequence to one; Hochreiter & Schmidhuber 1997, Arjovsky et al. 2016): two
  features per step, a value u_t ~ U(0, 1) and a marker that is 1 at one step in the first half
  and one in the second; the target is the sum of the two marked values. Predicting 1 scores
  1/6 ≈ 0.167, the baseline. The lag is the distance from the first marker to the end.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

STEPS_ECHO = 64  # T of every echo sequence


class Task(NamedTuple):
    inputs: np.ndarray  # (N, T, F) float32
    targets: np.ndarray  # (N, T, 1) per step, or (N, 1)
    baseline: float  # the no-memory loss (MSE)


def echo(n: int, lag: int, seed: int, steps: int = STEPS_ECHO) -> Task:
    x = np.random.default_rng(seed).standard_normal((n, steps, 1)).astype(np.float32)
    y = np.zeros_like(x)
    y[:, lag:] = x[:, : steps - lag]  # y_t = x_{t-d}
    return Task(x, y, (steps - lag) / steps)


def adding(n: int, steps: int, seed: int) -> Task:
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n, steps))
    markers = np.zeros((n, steps))
    half = steps // 2
    first, second = rng.integers(0, half, n), rng.integers(half, steps, n)
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=2).astype(np.float32)  # (N, T, 2)
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)  # (N, 1)
    return Task(x, y, 1.0 / 6.0)
