"""`lstm-serve inspect`: a checkpoint's config, scaling, metadata and size, as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli import Subparsers
from model.checkpoint import Checkpoint, load_checkpoint
from model.conformal import without_residuals


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "inspect",
        help="show a checkpoint's config, metadata and size",
        description="Print a checkpoint's config, metadata and parameter count as JSON.",
    )
    parser.add_argument("path", type=Path, help=".safetensors, .pt or .onnx")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(describe(load_checkpoint(args.path)), indent=2))
    return 0


def describe(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "config": checkpoint.config.to_dict(),
        "parameters": checkpoint.parameter_count,
        "input_scaling": checkpoint.input_scaler.to_dict(),
        "target_scaling": checkpoint.target_scaler.to_dict(),
        "metadata": without_residuals(checkpoint.metadata),
    }
