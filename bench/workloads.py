"""The request bodies of each workload, in each server's format, holding the same numbers, and
the classic checkpoint that every server loads."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from classic import INPUT_SIZE, STEPS, LSTMModel


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    sequences: int  # per request
    connections: int


SINGLE = Workload("a", "(a) 1 sequence/request, 16 connections", 1, 16)
BULK = Workload("b", "(b) 256 sequences/request, 4 connections", 256, 4)
BEFORE_TRAINING = Workload("c0", "(a) again, just before (c)", 1, 16)
TRAINING = Workload("c", "(c) = (a) while a training job runs", 1, 16)

JSON, NPY = "application/json", "application/x-npy"


def write_checkpoint(directory: Path) -> Path:
    """A `torch.save(model.state_dict())` of the classic model: what a user brings."""
    torch.manual_seed(0)
    path = directory / "classic.pt"
    torch.save(LSTMModel().state_dict(), path)
    return path


def _bodies(x: np.ndarray) -> dict[str, bytes]:
    nested: Any = x.tolist()
    v2 = {"name": "input-0", "shape": list(x.shape), "datatype": "FP32",
          "data": x.reshape(-1).tolist()}  # fmt: skip
    npy = io.BytesIO()
    np.save(npy, x.astype(np.float32))
    return {
        "inputs": _json({"inputs": nested}),  # lstm-serve and the naive server
        "instances": _json({"instances": nested}),  # KServe v1
        "v2": _json({"inputs": [v2]}),  # KServe v2 (Open Inference Protocol)
        "npy": npy.getvalue(),
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# Values as a sensor would send them (6 decimals), and as Python's json writes a float (17
# significant digits): the second kind is a third longer and slower to parse.
PRECISIONS = ("6 decimals", "full precision")


def write_bodies(directory: Path, precision: str = "full precision") -> dict[tuple[str, str], Path]:
    """(workload key, body kind) -> file, the values at `precision` (one of PRECISIONS)."""
    rng = np.random.default_rng(0)
    paths = {}
    for workload in (SINGLE, BULK):
        x = rng.normal(size=(workload.sequences, STEPS, INPUT_SIZE))
        if precision == "6 decimals":
            x = x.round(6)
        for kind, content in _bodies(x).items():
            path = directory / f"{workload.key}-{kind}-{precision.split()[0]}.body"
            path.write_bytes(content)
            paths[workload.key, kind] = path
    return paths


def training_request() -> dict[str, Any]:
    """A job that trains for minutes (1000 epochs, no early stopping) on a noisy sine."""
    t = np.arange(4000)
    series = (np.sin(t / 20) + np.random.default_rng(1).normal(0, 0.1, t.size)).round(4)
    return {
        "data": {"series": series.tolist(), "window": 10},
        "model": {"hidden_size": 20, "num_layers": 2},
        "training": {"epochs": 1000, "early_stopping_patience": None},
    }
