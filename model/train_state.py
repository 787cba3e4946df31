"""A run's resume point, written at the end of an epoch: the weights, the optimizer's state, the
random generators' states, the best weights so far, the history and where the run stood, so that
training continued from it gives the same weights as a run that never stopped.

One `.safetensors` file, written atomically: the arrays under `weights.`, `best.`, `optimizer.`
and `rng.`, the rest as JSON in the metadata. Loading never unpickles. A resume point records
what the run was (the model config, the hyperparameters, the data's summary): resuming it on
another run is refused rather than silently mixed. Torch-free; the engines fill it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from model.errors import CheckpointError, InvalidInput
from model.files import atomic_write_bytes
from model.train_loop import EpochProgress

METADATA_KEY = "lstm_serve_training_state"
FORMAT_VERSION = 1
PARTS = ("weights", "best", "optimizer", "rng")


@dataclass(frozen=True)
class TrainingState:
    engine: str
    epoch: int  # the last finished epoch (1-based)
    run: dict[str, Any]  # what the run is: config, params, data summary (resume refuses others)
    weights: dict[str, np.ndarray]  # the model after `epoch`
    best: dict[str, np.ndarray]  # the best weights so far
    best_epoch: int
    best_loss: float
    optimizer: dict[str, np.ndarray]  # the engine's own names
    rng: dict[str, np.ndarray]  # the generators' states, as bytes (uint8) or numbers
    history: list[EpochProgress]

    def check_resumes(self, engine: str, run: dict[str, Any]) -> None:
        """InvalidInput unless this state is of the same engine and the same run."""
        if engine != self.engine:
            raise InvalidInput(f"the resume point is of the {self.engine} engine, not {engine}")
        if run != self.run:
            changed = sorted(key for key in run.keys() | self.run.keys()
                             if run.get(key) != self.run.get(key))  # fmt: skip
            raise InvalidInput(
                f"the resume point is of another run: its {', '.join(changed)} differ"
            )


def save_state(state: TrainingState, path: str | Path) -> None:
    tensors = {
        f"{part}.{key}": np.ascontiguousarray(array)
        for part in PARTS
        for key, array in getattr(state, part).items()
    }
    header = {
        "format_version": FORMAT_VERSION,
        "engine": state.engine,
        "epoch": state.epoch,
        "run": state.run,
        "best_epoch": state.best_epoch,
        "best_loss": state.best_loss if math.isfinite(state.best_loss) else None,
        "history": [asdict(progress) for progress in state.history],
    }
    data = safetensors.numpy.save(tensors, metadata={METADATA_KEY: json.dumps(header)})
    atomic_write_bytes(path, data)


def load_state(path: str | Path) -> TrainingState:
    source = str(path)
    try:
        with safetensors.safe_open(source, framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(source, f"not a readable resume point ({exc})") from exc
    if raw is None:
        raise CheckpointError(source, "is not a resume point (no training state in it)")
    try:
        header = json.loads(raw)
        if header["format_version"] != FORMAT_VERSION:
            raise ValueError(f"format version {header['format_version']}")
        parts: dict[str, dict[str, np.ndarray]] = {part: {} for part in PARTS}
        for name, array in tensors.items():
            part, _, key = name.partition(".")
            parts[part][key] = array
        best_loss = header["best_loss"]
        return TrainingState(
            engine=header["engine"],
            epoch=int(header["epoch"]),
            run=header["run"],
            best_epoch=int(header["best_epoch"]),
            best_loss=math.inf if best_loss is None else float(best_loss),
            history=[EpochProgress(**progress) for progress in header["history"]],
            **parts,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(source, f"a damaged resume point ({exc})") from exc


@dataclass(frozen=True)
class Checkpointing:
    """What an engine does about resume points: `save` one after every `every`-th epoch (and
    after the last), and start from `resume_from` when given."""

    save: Callable[[TrainingState], None] | None = None
    every: int = 1
    resume_from: TrainingState | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise InvalidInput(f"checkpoint_every must be at least 1, not {self.every}")

    def due(self, epoch: int, epochs: int) -> bool:
        return self.save is not None and (epoch % self.every == 0 or epoch == epochs)


def run_identity(
    config: dict[str, Any], params: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """What a resume point must match: the config, the hyperparameters that shape the run
    (not the thread count) and the data's summary, as JSON gives them back."""
    shaping = {key: value for key, value in params.items() if key != "num_threads"}
    identity: dict[str, Any] = json.loads(
        json.dumps({"config": config, "params": shaping, "data": data})
    )
    return identity
