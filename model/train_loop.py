"""What both training engines share, torch-free: hyperparameters, progress records, the data
split and scaling, and the epoch loop (best epoch, early stopping, progress, stop hook).
`model.torch_trainer` (torch) and `model.numpy_trainer` (NumPy) supply only the per-batch
arithmetic; `model.backends` picks one by name."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from annotated_types import Interval

from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import (
    Samples,
    SequenceData,
    chronological_rows,
    chronological_split,
    random_rows,
    split,
)
from model.errors import InvalidInput, TrainingFailed
from model.intervals import within
from model.scaling import Scaler


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 50
    learning_rate: float = 1e-3
    batch_size: int = 32
    tbptt: int | None = None  # truncation window in steps; None = full BPTT
    validation_split: float = 0.2
    validation_mode: Literal["random", "last"] = "random"  # "last" keeps time order
    early_stopping_patience: int | None = 10  # epochs without improvement; None = off
    clip_grad_norm: float | None = 1.0
    seed: int = 0
    num_threads: int | None = None  # torch.set_num_threads; None = leave as is

    def __post_init__(self) -> None:
        for name, bounds in PARAM_BOUNDS.items():
            value = getattr(self, name)
            if value is not None and not within(bounds, value):
                raise InvalidInput(f"{name} is out of range: {value!r}", (name,))


# The bounds of each hyperparameter (None, where a field allows it, means off or full).
PARAM_BOUNDS = {
    "epochs": Interval(ge=1),
    "learning_rate": Interval(gt=0.0),
    "batch_size": Interval(ge=1, le=1 << 20),
    "tbptt": Interval(ge=1),
    "validation_split": Interval(ge=0.0, lt=1.0),
    "early_stopping_patience": Interval(ge=1),
    "clip_grad_norm": Interval(gt=0.0),
    "seed": Interval(ge=0, le=2**32 - 1),
    "num_threads": Interval(ge=1),
}
DEFAULT_PARAMS = TrainParams()  # what the CLI and the HTTP schema offer when a user says nothing


@dataclass(frozen=True)
class EpochProgress:
    epoch: int  # 1-based
    epochs: int
    train_loss: float  # MSE in scaled units
    val_loss: float | None  # MSE in scaled units; None without a validation split
    elapsed_s: float


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Checkpoint  # weights of the best epoch (by validation loss when there is one)
    history: list[EpochProgress] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


ProgressCallback = Callable[[EpochProgress], None]
StopHook = Callable[[], bool]
Weights = TypeVar("Weights")


@dataclass(frozen=True)
class Prepared:
    """A run's starting point: the split, its scaling, and the weights to start from."""

    config: LSTMConfig
    train_set: Samples
    val_set: Samples | None
    input_scaler: Scaler
    target_scaler: Scaler
    init_from: Checkpoint | None

    def scaled(self, data: Samples) -> tuple[np.ndarray, np.ndarray]:
        """(N, T, F) inputs and (N, O) targets in model units, float32, all in memory."""
        samples = data.in_memory()
        return self.scaled_batch(samples.inputs, samples.targets)

    def scaled_batch(
        self, inputs: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.input_scaler.transform(inputs), self.target_scaler.transform(targets)


SCALING_CHUNK = 4096  # samples read at once to fit scaling on data that stays on disk


def prepare(
    config: LSTMConfig, data: Samples, params: TrainParams, init_from: Checkpoint | None
) -> Prepared:
    """Split, then fit scaling on the training part; fine-tuning keeps the base model's config
    and scaling, since its weights only make sense in those units."""
    check_sizes(config if init_from is None else init_from.config, data)
    train_set, val_set = split_data(data, params)
    if init_from is not None:
        config = init_from.config
        input_scaler, target_scaler = init_from.input_scaler, init_from.target_scaler
    elif isinstance(train_set, SequenceData):
        input_scaler, target_scaler = Scaler.fit(train_set.inputs), Scaler.fit(train_set.targets)
    else:  # on disk: a chunk of samples at a time
        input_scaler = Scaler.fit_chunks(lambda: _part(train_set, 0))
        target_scaler = Scaler.fit_chunks(lambda: _part(train_set, 1))
    return Prepared(config, train_set, val_set, input_scaler, target_scaler, init_from)


def _part(data: Samples, which: int) -> Iterator[np.ndarray]:
    """The inputs (0) or the targets (1) of every sample, a chunk at a time."""
    return (chunk[which] for chunk in data.chunks(SCALING_CHUNK))


def check_sizes(config: LSTMConfig, data: Samples) -> None:
    """The data's input and output sizes are the model's."""
    summary = data.summary()
    for name in ("input_size", "output_size"):
        if summary[name] != getattr(config, name):
            raise InvalidInput(
                f"the data has {name} {summary[name]} but the model has {getattr(config, name)}",
                ("data",),
            )


def validation_rows(n: int, params: TrainParams) -> npt.NDArray[np.intp] | None:
    """The indices of the validation samples `split_data` takes from n samples; None when the
    split is 0."""
    if params.validation_split == 0.0:
        return None
    if params.validation_mode == "last":
        return chronological_rows(n, params.validation_split)[1]
    return random_rows(n, params.validation_split, params.seed)[1]


def split_data(data: Samples, params: TrainParams) -> tuple[Samples, Samples | None]:
    """The (train, validation) split of a run; validation is None when the split is 0."""
    if params.validation_split == 0.0:
        return data, None
    if params.validation_mode == "last":
        return chronological_split(data, params.validation_split)
    return split(data, params.validation_split, params.seed)


def step_chunks(steps: int, tbptt: int | None) -> list[slice]:
    """Per-step targets' streaming truncation: the chunks of `tbptt` steps from the start (the
    last may be shorter); one chunk of all T steps when `tbptt` is None or at least T."""
    size = steps if tbptt is None else min(tbptt, steps)
    return [slice(start, min(start + size, steps)) for start in range(0, steps, size)]


class EpochLoop(Generic[Weights]):
    """Runs epochs, keeps the best weights (by validation loss, else train loss), stops early
    after `early_stopping_patience` epochs without improvement, reports progress. `resume`
    continues a run from a saved epoch; `on_epoch_end(epoch)` lets the engine save one."""

    def __init__(
        self,
        params: TrainParams,
        snapshot: Callable[[], Weights],
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.params, self.snapshot, self.on_progress = params, snapshot, on_progress
        self.best: Weights = snapshot()
        self.best_epoch = 0
        self.best_loss = math.inf
        self.stopped_early = False
        self.history: list[EpochProgress] = []

    def resume(
        self, best: Weights, best_epoch: int, best_loss: float, history: list[EpochProgress]
    ) -> None:
        """Continue after `history[-1]`: the next epoch is the one after it."""
        self.best, self.best_epoch, self.best_loss = best, best_epoch, best_loss
        self.history = list(history)

    def run(
        self,
        run_epoch: Callable[[], float],
        evaluate: Callable[[], float | None],
        on_epoch_end: Callable[[int], None] | None = None,
    ) -> None:
        done = len(self.history)
        # Elapsed time goes on from the saved run's, so a resumed history reads as one run.
        started = time.monotonic() - (self.history[-1].elapsed_s if self.history else 0.0)
        for epoch in range(done + 1, self.params.epochs + 1):
            train_loss, val_loss = run_epoch(), evaluate()
            if not math.isfinite(train_loss) or (val_loss is not None and math.isnan(val_loss)):
                raise TrainingFailed(
                    f"training diverged at epoch {epoch} (loss {train_loss}); "
                    "lower the learning rate or check the data's scale"
                )
            elapsed = time.monotonic() - started
            self.history.append(
                EpochProgress(epoch, self.params.epochs, train_loss, val_loss, elapsed)
            )
            if self.on_progress is not None:
                self.on_progress(self.history[-1])
            score = val_loss if val_loss is not None else train_loss
            improved = score < self.best_loss
            if improved:
                self.best_loss, self.best_epoch, self.best = score, epoch, self.snapshot()
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if not improved and self._patience_ran_out(epoch):
                self.stopped_early = True
                return

    def _patience_ran_out(self, epoch: int) -> bool:
        patience = self.params.early_stopping_patience
        return patience is not None and epoch - self.best_epoch >= patience

    def result(
        self, prepared: Prepared, data: Samples, tensors: dict[str, np.ndarray], engine: str
    ) -> TrainResult:
        """The best weights as a checkpoint whose metadata summarises the run."""
        best = self.history[self.best_epoch - 1]
        summary: dict[str, Any] = {
            "engine": engine,
            "params": asdict(self.params),
            "data": data.summary(),
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "train_loss": best.train_loss,
            "val_loss": best.val_loss,
            "stopped_early": self.stopped_early,
            "duration_s": round(self.history[-1].elapsed_s, 3),
        }
        checkpoint = Checkpoint(
            prepared.config,
            {key: np.ascontiguousarray(value, np.float32) for key, value in tensors.items()},
            prepared.input_scaler,
            prepared.target_scaler,
            {"training": summary},
        )
        return TrainResult(checkpoint, self.history, self.best_epoch, self.stopped_early)


def mean_predictor_loss(data: SequenceData) -> float:
    """MSE (in scaled units) of always predicting the mean: the bar a model must clear."""
    scaled = Scaler.fit(data.targets).transform(data.targets)
    return float(np.mean(scaled**2))
