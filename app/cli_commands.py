"""Handlers of the offline commands: train, predict, import, inspect."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.errors import InvalidInput

Subparsers = Any  # argparse's _SubParsersAction is private


def add_train(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model on a .npz or .csv file",
        description="Train an LSTM on DATA (.npz with inputs/targets, or a CSV time series "
        "cut into sliding windows) and write a .safetensors checkpoint.",
    )
    parser.add_argument("data", type=Path, help=".npz (inputs, targets) or .csv time series")
    csv = parser.add_argument_group("CSV time series")
    csv.add_argument("--window", type=int, help="steps per input window (required for CSV)")
    csv.add_argument("--horizon", type=int, default=1, help="steps ahead to predict (1)")
    csv.add_argument("--columns", help="comma-separated feature columns (default: all numeric)")
    csv.add_argument("--target-columns", help="comma-separated target columns (default: last)")
    arch = parser.add_argument_group("architecture")
    arch.add_argument("--hidden-size", type=int, default=32)
    arch.add_argument("--num-layers", type=int, default=1)
    arch.add_argument("--dropout", type=float, default=0.0)
    arch.add_argument("--init-from", type=Path, help="checkpoint to fine-tune")
    hp = parser.add_argument_group("training")
    hp.add_argument("--epochs", type=int, default=50)
    hp.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    hp.add_argument("--batch-size", type=int, default=32)
    hp.add_argument("--tbptt", type=int, help="truncated BPTT window in steps (default: full)")
    hp.add_argument("--validation-split", type=float, default=0.2)
    hp.add_argument(
        "--validation-mode",
        choices=["random", "last"],
        help="how to pick validation samples (default: last for CSV, random for .npz)",
    )
    hp.add_argument("--patience", type=int, default=10, help="early-stopping patience, epochs")
    hp.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: off)")
    hp.add_argument("--seed", type=int, default=0)
    hp.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    parser.add_argument("--dry-run", action="store_true", help="2 epochs on 64 samples")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors path")
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from app.cli_training import train_from_args  # imports torch

    result = train_from_args(args)
    save_checkpoint(result, args.out)
    print(json.dumps({"out": str(args.out), **result.metadata["training"]}, default=str))
    return 0


def add_predict(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict with a checkpoint",
        description='Predict from FILE: JSON {"inputs": [[[...], ...], ...], "state": ...} '
        "as in POST /v1/predict, or .npz with `inputs` (B, T, F) and optional `lengths`. "
        "Prints the predictions as JSON.",
    )
    parser.add_argument("--model", type=Path, required=True, help=".safetensors or .pt")
    parser.add_argument("--input", type=Path, required=True, help=".json or .npz")
    parser.add_argument("--return-state", action="store_true", help="include final h and c")
    parser.add_argument("--return-sequence", action="store_true", help="include every step")
    parser.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    parser.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from app.cli_predict import predict_file

    print(json.dumps(predict_file(args)))
    return 0


def add_import(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "import",
        help="convert a PyTorch state_dict .pt file to .safetensors",
        description="Import a plain state_dict saved with torch.save(model.state_dict()) from "
        "the classic LSTM model; the architecture is read off the tensor shapes.",
    )
    parser.add_argument("path", type=Path, help="the .pt file")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors path")
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    if args.path.suffix not in (".pt", ".pth"):
        raise InvalidInput(f"{args.path}: expected a .pt or .pth file", ("path",))
    checkpoint = load_checkpoint(args.path)
    save_checkpoint(checkpoint, args.out)
    print(json.dumps({"out": str(args.out), **describe(checkpoint)}))
    return 0


def add_inspect(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "inspect",
        help="show a checkpoint's config, metadata and size",
        description="Print a checkpoint's config, metadata and parameter count as JSON.",
    )
    parser.add_argument("path", type=Path, help=".safetensors or .pt")
    parser.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    print(json.dumps(describe(load_checkpoint(args.path)), indent=2))
    return 0


def describe(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "config": checkpoint.config.to_dict(),
        "parameters": checkpoint.parameter_count,
        "input_scaling": checkpoint.input_scaler.to_dict(),
        "target_scaling": checkpoint.target_scaler.to_dict(),
        "metadata": checkpoint.metadata,
    }
