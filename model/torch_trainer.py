"""The torch training engine: the classic loop (MSE, Adam) with minibatches, gradient-norm
clipping and truncated backpropagation through time (TBPTT); the epoch loop, split, scaling and
early stopping are shared with the NumPy engine (`model.train_loop`).

TBPTT for a sequence-to-one loss: the loss sits on the last step, so the gradient reaches back at
most `tbptt` steps. The sequence is cut into chunks that end at T; every chunk but the last runs
forward without a graph and hands its (h, c) on, detached (pytorch/examples `repackage_hidden`).
Memory is bounded by `tbptt`, not T, and with `tbptt >= T` it is exactly full BPTT.

Per-step targets (y of shape (B, T, O)) train as pytorch/examples' word_language_model does: the
sequence is cut into chunks of `tbptt` steps from the start; each chunk's mean loss over its
steps is one optimizer step, and the state goes on to the next chunk detached (k1 = k2 = k).
With `tbptt >= T` there is one chunk: full BPTT of the loss over every step.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import Samples, SequenceData
from model.distributed import Group, current_group
from model.errors import InvalidInput, TrainingCancelled
from model.lstm import LSTMModel
from model.torch_predictor import build_model
from model.train_loop import (
    EpochLoop,
    Prepared,
    ProgressCallback,
    StopHook,
    TrainParams,
    TrainResult,
    prepare,
    step_chunks,
)
from model.train_state import Checkpointing, TrainingState, run_identity

ENGINE = "torch"


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


def step_losses(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, tbptt: int | None
) -> Iterator[tuple[torch.Tensor, float]]:
    """Per-step targets, a chunk of `tbptt` steps at a time: each chunk's mean squared error over
    its steps and the chunk's share of the T steps. The state goes on to the next chunk
    detached, so a chunk's gradient stops at its first step; take an optimizer step on each
    loss before asking for the next (the next chunk runs on the updated weights).

    x: (B, T, F), y: (B, T, O).
    """
    steps = x.shape[1]
    state = None
    for chunk in step_chunks(steps, tbptt):
        out = model(x[:, chunk], state, return_steps=True)  # out.steps: (B, k, O)
        yield nn.functional.mse_loss(out.steps, y[:, chunk]), out.steps.shape[1] / steps
        state = (out.h.detach(), None if out.c is None else out.c.detach())  # (L, B, H) each


def batch_losses(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, tbptt: int | None
) -> Iterator[tuple[torch.Tensor, float]]:
    """The losses one batch trains on, each with its share of the batch: one for a
    sequence-to-one target (B, O), one per chunk for per-step targets (B, T, O)."""
    if y.ndim == 3:
        yield from step_losses(model, x, y, tbptt)
    else:
        yield sequence_loss(model, x, y, tbptt), 1.0  # type: ignore[arg-type]


def train_torch(
    config: LSTMConfig,
    data: Samples,
    params: TrainParams,
    on_progress: ProgressCallback | None = None,
    should_stop: StopHook | None = None,
    init_from: Checkpoint | None = None,
    checkpointing: Checkpointing | None = None,
    device: str = "cpu",
    data_workers: int = 0,
) -> TrainResult:
    """Train on `data` and return the best weights as a checkpoint with fitted scaling.

    `device`: "cpu", "cuda" (InvalidInput without one) or "auto" (CUDA when present); the data
    set moves to it whole, and the checkpoint comes back on the CPU.

    A series on disk (`model.windows.SeriesWindows`) is never read whole: each batch's windows
    are cut and scaled when it comes, in this process, or by `data_workers` DataLoader
    processes while the model trains on the batch before (worth it when reads are slow: the
    hand-off costs about 2 ms a batch). The weights are those of the same data in memory.

    `init_from` fine-tunes: its weights and scaling are the starting point, and its config wins.
    `checkpointing` saves resume points and resumes from one: the weights then equal a run that
    never stopped, bit for bit on one CPU thread. Raises TrainingCancelled when `should_stop()`
    turns true (checked before every batch), and TrainingFailed when the loss diverges.
    """
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)  # process-wide: call from a worker process
    torch.manual_seed(params.seed)
    group = current_group()
    target = torch_device(device, group)
    prepared = prepare(config, data, params, init_from)
    model = build_model(init_from).train() if init_from else LSTMModel(prepared.config)
    model = model.to(target)
    samples = (
        InMemory(prepared, target)
        if isinstance(prepared.train_set, SequenceData)
        else Streamed(prepared, target, data_workers)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    generator = torch.Generator().manual_seed(params.seed)
    stop = group.any_rank(should_stop or (lambda: False))

    # In a torchrun group DDP averages the ranks' gradients; alone, the model is used as is.
    trained = model if group.size == 1 else _parallel(model, target)

    def run_epoch() -> float:
        """One pass over shuffled minibatches; the sample-weighted mean train loss (over every
        rank's rows)."""
        model.train()
        order = torch.randperm(len(prepared.train_set), generator=generator)  # same on all ranks
        batches = [order[start : start + params.batch_size]
                   for start in range(0, len(order), params.batch_size)]  # fmt: skip
        total = 0.0
        for rows, (x, y) in zip(
            batches, samples.epoch([group.share(b) for b in batches]), strict=True
        ):
            if stop():
                raise TrainingCancelled("training was stopped")
            losses = _weighted_losses(trained, x, y, len(rows), group.size, params.tbptt)
            for loss, share in losses:
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                if params.clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
                optimizer.step()
                total += float(loss.detach()) * share * len(rows) / group.size
        return group.total(total) / len(order)

    def evaluate() -> float | None:
        return samples.val_mse(model)

    # Rank 0 alone reports and saves: the others hold the same numbers.
    report = on_progress if group.leader else None
    loop = EpochLoop(params, lambda: copy.deepcopy(model.state_dict()), report)
    checkpointing = checkpointing or Checkpointing()
    run = run_identity(prepared.config.to_dict(), asdict(params), data.summary())
    if checkpointing.resume_from is not None:
        _restore(checkpointing.resume_from, run, model, optimizer, generator, loop)

    def on_epoch_end(epoch: int) -> None:
        due = checkpointing.save is not None and checkpointing.due(epoch, params.epochs)
        if due and group.leader and checkpointing.save is not None:
            checkpointing.save(_capture(epoch, run, model, optimizer, generator, loop))

    loop.run(run_epoch, evaluate, on_epoch_end)
    tensors = {key: value.detach().cpu().numpy() for key, value in loop.best.items()}
    return loop.result(prepared, data, tensors, engine=ENGINE)


Loop = EpochLoop[dict[str, torch.Tensor]]


def _capture(
    epoch: int,
    run: dict[str, object],
    model: LSTMModel,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    loop: Loop,
) -> TrainingState:
    optimizer_arrays = {
        f"{index}.{name}": _array(value)
        for index, state in optimizer.state_dict()["state"].items()
        for name, value in state.items()
    }
    return TrainingState(
        engine=ENGINE,
        epoch=epoch,
        run=dict(run),
        weights={key: _array(value) for key, value in model.state_dict().items()},
        best={key: _array(value) for key, value in loop.best.items()},
        best_epoch=loop.best_epoch,
        best_loss=loop.best_loss,
        optimizer=optimizer_arrays,
        # The minibatch order's generator, and the global one (dropout's masks).
        rng={"shuffle": generator.get_state().numpy(), "global": torch.get_rng_state().numpy()},
        history=list(loop.history),
    )


def _restore(
    state: TrainingState,
    run: dict[str, object],
    model: LSTMModel,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    loop: Loop,
) -> None:
    state.check_resumes(ENGINE, run)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.weights.items()})
    per_parameter: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in state.optimizer.items():
        index, _, field = name.partition(".")
        per_parameter.setdefault(int(index), {})[field] = torch.from_numpy(value.copy())
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": per_parameter, "param_groups": groups})
    generator.set_state(torch.from_numpy(state.rng["shuffle"].copy()))
    torch.set_rng_state(torch.from_numpy(state.rng["global"].copy()))
    best = {key: torch.from_numpy(value.copy()) for key, value in state.best.items()}
    loop.resume(best, state.best_epoch, state.best_loss, state.history)


def torch_device(name: str, group: Group) -> torch.device:
    """The device a run trains on: in a torchrun group on CUDA, its local rank's GPU."""
    if name not in ("cpu", "cuda", "auto"):
        raise InvalidInput(f"device is cpu, cuda or auto, not {name!r}", ("device",))
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InvalidInput("device is cuda, and this machine has no CUDA device", ("device",))
    index = int(os.environ.get("LOCAL_RANK", "0")) if group.size > 1 else 0
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _parallel(model: LSTMModel, device: torch.device) -> nn.Module:
    ids = None if device.type == "cpu" else [device.index]
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _array(value: torch.Tensor) -> np.ndarray:
    """A copy on the CPU, as NumPy."""
    return value.detach().cpu().numpy().copy()


def _weighted_losses(
    trained: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_rows: int,
    ranks: int,
    tbptt: int | None,
) -> Iterator[tuple[torch.Tensor, float]]:
    """This rank's losses over its rows `x` (B, T, F) and `y` (B, O) or (B, T, O), each weighted
    by its share of the batch: DDP's average over the ranks is then the whole batch's mean loss
    (alone: the mean loss itself). A rank without rows in a last, short batch still takes part
    in every all-reduce, with zero losses."""
    if x.shape[0] == 0:
        steps = x.shape[1]
        chunks = step_chunks(steps, tbptt) if y.ndim == 3 else [slice(0, steps)]
        for chunk in chunks:
            zero = torch.zeros((), device=x.device)
            yield (
                sum((p.sum() * 0.0 for p in trained.parameters()), zero),
                ((chunk.stop - chunk.start) / steps),
            )
        return
    for loss, share in batch_losses(trained, x, y, tbptt):
        yield loss * (x.shape[0] * ranks / batch_rows), share


class InMemory:
    """The data as tensors on the device, converted once; a batch is an index into them."""

    def __init__(self, prepared: Prepared, device: torch.device) -> None:
        self.x, self.y = _tensors(prepared.scaled(prepared.train_set), device)
        val = prepared.val_set
        self.val = None if val is None else _tensors(prepared.scaled(val), device)

    def epoch(self, shares: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's rows of each batch: (B, T, F) inputs, (B, O) targets."""
        for rows in shares:
            yield self.x[rows], self.y[rows]

    def val_mse(self, model: LSTMModel) -> float | None:
        return None if self.val is None else _mse(model, *self.val)


class Streamed:
    """Windows cut from a series on disk and scaled by `workers` DataLoader processes, a batch
    or two ahead of the model; the whole set is never in memory."""

    def __init__(self, prepared: Prepared, device: torch.device, workers: int) -> None:
        self.prepared, self.device, self.workers = prepared, device, workers

    def epoch(self, shares: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = _ScaledBatches(self.prepared, shares)
        # batch_size None: the data set hands out whole batches, in order (batch k is item k).
        loader = DataLoader(batches, batch_size=None, num_workers=self.workers)
        for x, y in loader:
            yield x.to(self.device), y.to(self.device)

    def val_mse(self, model: LSTMModel) -> float | None:
        """The mean over the validation samples, a chunk at a time."""
        if self.prepared.val_set is None:
            return None
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for inputs, targets in self.prepared.val_set.chunks(EVALUATION_CHUNK):
                x, y = _tensors(self.prepared.scaled_batch(inputs, targets), self.device)
                total += float(((_outputs(model, x, y) - y) ** 2).sum())
                count += y.numel()
        return total / count


EVALUATION_CHUNK = 1024  # validation samples a forward pass takes at once, data on disk


class _ScaledBatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Item k: batch k of an epoch (this rank's rows), read from disk and scaled."""

    def __init__(self, prepared: Prepared, shares: list[torch.Tensor]) -> None:
        self.prepared, self.shares = prepared, shares

    def __len__(self) -> int:
        return len(self.shares)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = self.prepared.train_set.batch(self.shares[k].numpy())
        x, y = self.prepared.scaled_batch(inputs, targets)
        return torch.from_numpy(x), torch.from_numpy(y)


def _tensors(
    arrays: tuple[np.ndarray, np.ndarray], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = arrays
    return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)


@torch.no_grad()
def _mse(model: LSTMModel, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float(nn.functional.mse_loss(_outputs(model, x, y), y))


def _outputs(model: LSTMModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """What `y` is compared with: the last step's prediction (B, O), or every step's
    (B, T, O) for per-step targets."""
    out = model(x, return_steps=y.ndim == 3)
    outputs: torch.Tensor = out.steps if y.ndim == 3 else out.predictions
    return outputs


__all__ = ["batch_losses", "sequence_loss", "step_losses", "train_torch"]  # the engine's whole API
