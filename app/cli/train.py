"""`lstm-serve train`: a .npz or CSV file in, a trained .safetensors checkpoint out, with a
progress bar. The engine (torch or NumPy) is imported only when the command runs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from app.cli import Subparsers
from model.backends import TRAINING_BACKENDS, predictor_class, trainer
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import (
    CELLS,
    DEFAULT_DROPOUT,
    DEFAULT_HIDDEN_SIZE,
    DEFAULT_NUM_LAYERS,
    LSTMConfig,
)
from model.data import Samples, csv_columns, load_data
from model.distributed import follower, join_group, launched_by_torchrun, leave_group
from model.errors import InvalidInput
from model.forecast import windows_predictor
from model.series_evaluation import series_metadata
from model.series_task import Column, SeriesTask
from model.train_loop import DEFAULT_PARAMS as DEFAULTS
from model.train_loop import EpochProgress, TrainParams, validation_rows
from model.train_state import Checkpointing, load_state, save_state

_DRY_RUN_SAMPLES = 64
_DRY_RUN_EPOCHS = 2


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model on a .npz or .csv file",
        description="Train an LSTM on DATA (.npz with inputs/targets, or a time series cut "
        "into sliding windows: a CSV, or an .npy array that is memory-mapped) and write a "
        ".safetensors checkpoint.",
    )
    parser.add_argument(
        "data", type=Path, help=".npz (inputs, targets), .csv or .npy (rows, F) time series"
    )
    csv = parser.add_argument_group("time series (.csv, .npy)")
    csv.add_argument("--window", type=int, help="steps per input window (required)")
    csv.add_argument("--horizon", type=int, default=1, help="steps ahead to predict (1)")
    csv.add_argument("--columns", help="comma-separated CSV feature columns (default: all numeric)")
    csv.add_argument(
        "--target-columns",
        help="comma-separated target columns: names for CSV, indices for .npy (default: last)",
    )
    csv.add_argument(
        "--per-step",
        action="store_true",
        help="a target at every step of each window (the value --horizon steps after it); "
        "an .npz has them when its targets are (N, T, output_size)",
    )
    csv.add_argument(
        "--data-workers",
        type=int,
        default=0,
        help="processes that cut an .npy series' windows while the model trains (0: the "
        "training process cuts them; more pays when the file is on a slow disk)",
    )
    arch = parser.add_argument_group("architecture")
    arch.add_argument("--hidden-size", type=int, default=DEFAULT_HIDDEN_SIZE)
    arch.add_argument("--num-layers", type=int, default=DEFAULT_NUM_LAYERS)
    arch.add_argument("--dropout", type=float, default=DEFAULT_DROPOUT)
    arch.add_argument("--cell", choices=CELLS, default="lstm", help="the recurrent cell (lstm)")
    arch.add_argument(
        "--nonlinearity", choices=["tanh", "relu"], default="tanh", help="the rnn cell's (tanh)"
    )
    arch.add_argument("--init-from", type=Path, help="checkpoint to fine-tune")
    hp = parser.add_argument_group("training")
    hp.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    hp.add_argument("--lr", type=float, default=DEFAULTS.learning_rate, help="Adam learning rate")
    hp.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    hp.add_argument("--tbptt", type=int, help="truncated BPTT window in steps (default: full)")
    hp.add_argument("--validation-split", type=float, default=DEFAULTS.validation_split)
    hp.add_argument(
        "--validation-mode",
        choices=["random", "last"],
        help="how to pick validation samples (default: last for a series, random for .npz)",
    )
    hp.add_argument(
        "--patience",
        type=int,
        default=DEFAULTS.early_stopping_patience,
        help="early-stopping patience, epochs (0: off)",
    )
    hp.add_argument(
        "--clip", type=float, default=DEFAULTS.clip_grad_norm, help="gradient-norm clip (0: off)"
    )
    hp.add_argument("--seed", type=int, default=DEFAULTS.seed)
    hp.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    resume = parser.add_argument_group("resume points (torch)")
    resume.add_argument(
        "--save-state",
        type=Path,
        help="write a resume point here at the end of every --checkpoint-every epochs",
    )
    resume.add_argument("--checkpoint-every", type=int, default=1, help="epochs (1)")
    resume.add_argument(
        "--resume",
        type=Path,
        help="continue the run saved in this resume point (with the same data and options); "
        "it goes on saving there unless --save-state says elsewhere",
    )
    ddp = parser.add_argument_group(
        "data-parallel training (torch): runs this command under torchrun, one process a rank"
    )
    ddp.add_argument("--nproc-per-node", type=int, help="processes on this machine")
    ddp.add_argument("--nnodes", type=int, default=1, help="machines (1)")
    ddp.add_argument("--node-rank", type=int, default=0, help="this machine's rank (0)")
    ddp.add_argument("--rdzv-endpoint", help="host:port of the rendezvous, for --nnodes above 1")
    parser.add_argument("--backend", choices=TRAINING_BACKENDS, default="torch")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "auto"],
        default="cpu",
        help="where the torch engine trains (auto: CUDA when present)",
    )
    parser.add_argument("--dry-run", action="store_true", help="2 epochs on 64 samples")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors path")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.nproc_per_node is not None and not launched_by_torchrun():
        return _under_torchrun(args)
    group = join_group() if launched_by_torchrun() else None
    try:
        result = train_from_args(args)
        if group is None or group.leader:  # rank 0 alone writes the result
            save_checkpoint(result, args.out)
            print(json.dumps({"out": str(args.out), **result.metadata["training"]}, default=str))
    finally:
        if group is not None:
            leave_group()
    return 0


_DDP_FLAGS = {"--nproc-per-node", "--nnodes", "--node-rank", "--rdzv-endpoint"}


def _under_torchrun(args: argparse.Namespace) -> int:
    """This same command, without its torchrun flags, as `torchrun`'s worker processes; the
    exit status of the group (a rank that fails fails it)."""
    if args.backend != "torch":
        raise InvalidInput("data-parallel training runs the torch engine: --backend torch")
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise InvalidInput("--nnodes above 1 needs --rdzv-endpoint host:port")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                str(args.nproc_per_node), "--nnodes", str(args.nnodes)]  # fmt: skip
    if args.nnodes > 1:
        launcher += ["--node-rank", str(args.node_rank), "--rdzv-backend", "c10d",
                     "--rdzv-endpoint", args.rdzv_endpoint]  # fmt: skip
    else:
        launcher.append("--standalone")
    return subprocess.run([*launcher, "-m", "app.cli.main", *_without_ddp_flags(args.argv)],
                          check=False).returncode  # fmt: skip


def _without_ddp_flags(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _DDP_FLAGS:
            skip = True
        elif arg.split("=", 1)[0] not in _DDP_FLAGS:
            kept.append(arg)
    return kept


def train_from_args(args: argparse.Namespace) -> Checkpoint:
    """Load the data, train with a tqdm bar on stderr, return the best checkpoint."""
    data = _load(args)
    params = _params(args)
    init = load_checkpoint(args.init_from) if args.init_from else None
    summary = data.summary()
    config = LSTMConfig(
        input_size=summary["input_size"],
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        output_size=summary["output_size"],
        dropout=args.dropout,
        cell=args.cell,
        nonlinearity=args.nonlinearity,
    )
    # One progress bar for a torchrun group: rank 0's.
    with tqdm(total=params.epochs, desc="training", unit="epoch", disable=follower()) as bar:

        def report(progress: EpochProgress) -> None:
            bar.update(1)
            bar.set_postfix(train=f"{progress.train_loss:.4g}", val=_loss_text(progress.val_loss))

        checkpointing = _checkpointing(args)
        if checkpointing.resume_from is not None:
            bar.update(checkpointing.resume_from.epoch)
        train = trainer(args.backend)  # imports torch for the torch backend
        if args.backend == "numpy" and args.data.suffix.lower() == ".npy":
            print("note: the NumPy engine trains in memory: every window of the .npy series "
                  "is read into memory first (the torch engine reads them per batch)",
                  file=sys.stderr)  # fmt: skip
        result = train(
            config,
            data,
            params,
            report,
            None,
            init,
            checkpointing,
            device=args.device,
            data_workers=args.data_workers,
        )
    if follower() or args.data.suffix.lower() not in (".csv", ".npy"):
        return result.checkpoint
    return _with_series_metadata(result.checkpoint, args, data, params)


def _with_series_metadata(
    checkpoint: Checkpoint, args: argparse.Namespace, data: Samples, params: TrainParams
) -> Checkpoint:
    """A series model's task, and with a validation split its forecast errors beside the naive
    forecasts' and its intervals' calibration (as a training job records them)."""
    columns: list[Column]
    if args.data.suffix.lower() == ".csv":
        columns = list(csv_columns(args.data, _names(args.columns)))
    else:
        columns = list(range(data.summary()["input_size"]))
    task = SeriesTask.of_series(args.window, args.horizon, columns, _targets(args), args.per_step)
    predict = windows_predictor(predictor_class(args.backend)(checkpoint))
    series = series_metadata(task, predict, data, validation_rows(len(data), params))
    training = {**checkpoint.metadata["training"]}
    if "forecast" in series:
        training["forecast"] = series.pop("forecast")
    return checkpoint.with_metadata(training=training, **series)


def _checkpointing(args: argparse.Namespace) -> Checkpointing:
    resume_from = load_state(args.resume) if args.resume else None
    target: Path | None = args.save_state or args.resume
    save = None if target is None else (lambda state: save_state(state, target))
    return Checkpointing(save, args.checkpoint_every, resume_from)


def _targets(args: argparse.Namespace) -> list[str] | list[int] | None:
    """--target-columns: names for a CSV, indices for an .npy series."""
    targets: list[str] | list[int] | None = _names(args.target_columns)
    if targets is not None and args.data.suffix.lower() == ".npy":
        try:
            targets = [int(name) for name in targets]
        except ValueError:
            raise InvalidInput(
                "--target-columns of an .npy series are column indices, e.g. 0,3",
                ("target_columns",),
            ) from None
    return targets


def _load(args: argparse.Namespace) -> Samples:
    data: Samples = load_data(
        args.data,
        window=args.window,
        horizon=args.horizon,
        columns=_names(args.columns),
        target_columns=_targets(args),
        per_step=args.per_step,
    )
    if args.dry_run:
        data = data.subset(np.arange(min(_DRY_RUN_SAMPLES, len(data))), "dry run")
    return data


def _params(args: argparse.Namespace) -> TrainParams:
    # Windows over one series (.csv, .npy) overlap: only a time-ordered split avoids leakage.
    mode: Literal["random", "last"] = args.validation_mode or (
        "last" if args.data.suffix.lower() in (".csv", ".npy") else "random"
    )
    return TrainParams(
        epochs=_DRY_RUN_EPOCHS if args.dry_run else args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        tbptt=args.tbptt,
        validation_split=args.validation_split,
        validation_mode=mode,
        early_stopping_patience=args.patience or None,
        clip_grad_norm=args.clip or None,
        seed=args.seed,
        num_threads=args.threads,
    )


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",")] if text else None


def _loss_text(loss: float | None) -> str:
    return "-" if loss is None else f"{loss:.4g}"
