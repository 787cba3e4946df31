"""The training engine: the classic loop (MSE, Adam) with minibatches, a validation split, early
stopping, gradient-norm clipping, a seed, a progress callback, a stop hook, and truncated
backpropagation through time (TBPTT).

TBPTT for a sequence-to-one loss: the loss sits on the last step, so the gradient reaches back at
most `tbptt` steps. The sequence is cut into chunks that end at T; every chunk but the last runs
forward without a graph and hands its (h, c) on, detached (pytorch/examples `repackage_hidden`).
Memory is bounded by `tbptt`, not T, and with `tbptt >= T` it is exactly full BPTT.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import SequenceData, chronological_split, split
from model.errors import InvalidInput, TrainingCancelled
from model.lstm import LSTMModel
from model.scaling import Scaler
from model.torch_predictor import build_model


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
        checks = {
            "epochs": self.epochs >= 1,
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "tbptt": self.tbptt is None or self.tbptt >= 1,
            "validation_split": 0.0 <= self.validation_split < 1.0,
            "early_stopping_patience": (
                self.early_stopping_patience is None or self.early_stopping_patience >= 1
            ),
            "clip_grad_norm": self.clip_grad_norm is None or self.clip_grad_norm > 0,
            "num_threads": self.num_threads is None or self.num_threads >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"{name} is out of range: {getattr(self, name)!r}", (name,))


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


def sequence_loss(
    model: LSTMModel, x: torch.Tensor, y: torch.Tensor, tbptt: int | None
) -> torch.Tensor:
    """MSE of the last-step prediction; gradients flow back through at most `tbptt` steps.

    x: (B, T, F), y: (B, O).
    """
    steps = x.shape[1]
    if tbptt is None or tbptt >= steps:
        return nn.functional.mse_loss(model(x).predictions, y)
    state = None
    with torch.no_grad():  # chunks whose gradient the truncation drops: forward only
        for start in range(0, steps - tbptt, tbptt):
            out = model(x[:, start : min(start + tbptt, steps - tbptt)], state)
            state = (out.h, out.c)  # (L, B, H) each, carrying no graph
    return nn.functional.mse_loss(model(x[:, steps - tbptt :], state).predictions, y)


def train(
    config: LSTMConfig,
    data: SequenceData,
    params: TrainParams,
    on_progress: ProgressCallback | None = None,
    should_stop: StopHook | None = None,
    init_from: Checkpoint | None = None,
) -> TrainResult:
    """Train on `data` and return the best weights as a checkpoint with fitted scaling.

    `init_from` fine-tunes: its weights and scaling are the starting point, and its config wins.
    Raises TrainingCancelled when `should_stop()` turns true (checked before every batch).
    """
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)
    torch.manual_seed(params.seed)
    train_set, val_set = _split(data, params)
    if init_from is not None:
        config, model = init_from.config, build_model(init_from).train()
        input_scaler, target_scaler = init_from.input_scaler, init_from.target_scaler
    else:
        model = LSTMModel(config)
        input_scaler = Scaler.fit(train_set.inputs)
        target_scaler = Scaler.fit(train_set.targets)
    _check_sizes(config, data)
    x_train, y_train = _scaled_tensors(train_set, input_scaler, target_scaler)
    val = _scaled_tensors(val_set, input_scaler, target_scaler) if val_set is not None else None
    loop = _Loop(model, params, on_progress, should_stop or (lambda: False))
    history = loop.run(x_train, y_train, val)
    summary = {
        "params": asdict(params),
        "data": data.summary(),
        "epochs_run": len(history),
        "best_epoch": loop.best_epoch,
        "train_loss": history[loop.best_epoch - 1].train_loss,
        "val_loss": history[loop.best_epoch - 1].val_loss,
        "stopped_early": loop.stopped_early,
        "duration_s": round(history[-1].elapsed_s, 3),
    }
    tensors = {key: value.detach().numpy().copy() for key, value in loop.best_state.items()}
    checkpoint = Checkpoint(config, tensors, input_scaler, target_scaler, {"training": summary})
    return TrainResult(checkpoint, history, loop.best_epoch, loop.stopped_early)


def _split(data: SequenceData, params: TrainParams) -> tuple[SequenceData, SequenceData | None]:
    if params.validation_split == 0.0:
        return data, None
    if params.validation_mode == "last":
        return chronological_split(data, params.validation_split)
    return split(data, params.validation_split, params.seed)


def _check_sizes(config: LSTMConfig, data: SequenceData) -> None:
    summary = data.summary()
    for name in ("input_size", "output_size"):
        if summary[name] != getattr(config, name):
            raise InvalidInput(
                f"the data has {name} {summary[name]} but the model has {getattr(config, name)}",
                ("data",),
            )


def _scaled_tensors(
    data: SequenceData, input_scaler: Scaler, target_scaler: Scaler
) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(input_scaler.transform(data.inputs))  # (N, T, F)
    y = torch.from_numpy(target_scaler.transform(data.targets))  # (N, O)
    return x, y


class _Loop:
    """One training run's mutable state: optimizer, best weights, patience counter."""

    def __init__(
        self,
        model: LSTMModel,
        params: TrainParams,
        on_progress: ProgressCallback | None,
        should_stop: StopHook,
    ) -> None:
        self.model, self.params = model, params
        self.on_progress, self.should_stop = on_progress, should_stop
        self.optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
        self.generator = torch.Generator().manual_seed(params.seed)
        self.best_state: dict[str, torch.Tensor] = copy.deepcopy(model.state_dict())
        self.best_epoch = 0
        self.stopped_early = False

    def run(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        val: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> list[EpochProgress]:
        history: list[EpochProgress] = []
        best_loss, started = float("inf"), time.monotonic()
        for epoch in range(1, self.params.epochs + 1):
            train_loss = self._epoch(x, y)
            val_loss = _evaluate(self.model, *val) if val is not None else None
            progress = EpochProgress(
                epoch, self.params.epochs, train_loss, val_loss, time.monotonic() - started
            )
            history.append(progress)
            if self.on_progress is not None:
                self.on_progress(progress)
            score = val_loss if val_loss is not None else train_loss
            if score < best_loss:
                best_loss, self.best_epoch = score, epoch
                self.best_state = copy.deepcopy(self.model.state_dict())
            elif self._patience_ran_out(epoch):
                self.stopped_early = True
                break
        return history

    def _patience_ran_out(self, epoch: int) -> bool:
        patience = self.params.early_stopping_patience
        return patience is not None and epoch - self.best_epoch >= patience

    def _epoch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One pass over shuffled minibatches; returns the sample-weighted mean train loss."""
        self.model.train()
        order = torch.randperm(x.shape[0], generator=self.generator)
        total = 0.0
        for start in range(0, x.shape[0], self.params.batch_size):
            if self.should_stop():
                raise TrainingCancelled("training was stopped")
            rows = order[start : start + self.params.batch_size]
            loss = sequence_loss(self.model, x[rows], y[rows], self.params.tbptt)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if self.params.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.params.clip_grad_norm)
            self.optimizer.step()
            total += float(loss.detach()) * len(rows)
        return total / x.shape[0]


@torch.no_grad()
def _evaluate(model: LSTMModel, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float(nn.functional.mse_loss(model(x).predictions, y))


def mean_predictor_loss(data: SequenceData) -> float:
    """MSE (in scaled units) of always predicting the mean: the bar a model must clear."""
    scaled = Scaler.fit(data.targets).transform(data.targets)
    return float(np.mean(scaled**2))
