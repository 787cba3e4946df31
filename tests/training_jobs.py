"""Training-job bodies shared by the in-process and the real-server tests."""

from __future__ import annotations

import math
from typing import Any

# A learnable task: the next value of a sine wave from the 8 before it.
SINE = [round(math.sin(0.3 * i), 6) for i in range(120)]
SMALL_JOB: dict[str, Any] = {
    "data": {"series": SINE, "window": 8},
    "model": {"hidden_size": 8},
    "training": {"epochs": 15, "learning_rate": 0.02, "batch_size": 16},
}
# Runs until it is cancelled or interrupted: tiny batches, no early stopping.
LONG_JOB: dict[str, Any] = {
    **SMALL_JOB,
    "training": {"epochs": 200, "batch_size": 4, "early_stopping_patience": None},
}
WORSE_JOB: dict[str, Any] = {
    **SMALL_JOB,
    "training": {"epochs": 1, "learning_rate": 1e-4},
    "activate": "if_better",
}


def settled(job: dict[str, Any]) -> bool:
    """Nothing will change any more: finished, and a success's activation policy applied."""
    if job["state"] in ("queued", "running"):
        return False
    return job["state"] != "succeeded" or job["activation"]["state"] != "pending"


def is_training(job: dict[str, Any]) -> bool:
    return job["state"] == "running" and job["progress"] is not None
