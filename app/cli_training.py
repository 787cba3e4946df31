"""`lstm-serve train`: arguments -> data, hyperparameters, a training run with a progress bar."""

from __future__ import annotations

import argparse
from typing import Literal

from tqdm import tqdm

from model.checkpoint import Checkpoint, load_checkpoint
from model.config import LSTMConfig
from model.data import SequenceData, load_data
from model.train import train
from model.training import EpochProgress, TrainParams

_DRY_RUN_SAMPLES = 64
_DRY_RUN_EPOCHS = 2


def train_from_args(args: argparse.Namespace) -> Checkpoint:
    """Load the data, train with a tqdm bar on stderr, return the best checkpoint."""
    data = _load(args)
    params = _params(args)
    init = load_checkpoint(args.init_from) if args.init_from else None
    config = LSTMConfig(
        input_size=data.inputs.shape[2],
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        output_size=data.targets.shape[1],
        dropout=args.dropout,
    )
    with tqdm(total=params.epochs, desc="training", unit="epoch") as bar:

        def report(progress: EpochProgress) -> None:
            bar.update(1)
            bar.set_postfix(train=f"{progress.train_loss:.4g}", val=_loss_text(progress.val_loss))

        if args.backend == "numpy":
            from model.numpy_train import train_numpy

            return train_numpy(config, data, params, on_progress=report, init_from=init).checkpoint
        return train(config, data, params, on_progress=report, init_from=init).checkpoint


def _load(args: argparse.Namespace) -> SequenceData:
    data = load_data(
        args.data,
        window=args.window,
        horizon=args.horizon,
        columns=_names(args.columns),
        target_columns=_names(args.target_columns),
    )
    if args.dry_run:
        data = SequenceData(
            data.inputs[:_DRY_RUN_SAMPLES], data.targets[:_DRY_RUN_SAMPLES], data.source
        )
    return data


def _params(args: argparse.Namespace) -> TrainParams:
    # Sliding windows over one series overlap, so only a time-ordered split avoids leakage.
    mode: Literal["random", "last"] = args.validation_mode or (
        "last" if args.data.suffix == ".csv" else "random"
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
