"""`lstm-serve export`: a checkpoint as a standard ONNX file (no torch needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli import Subparsers
from model.checkpoint import load_checkpoint
from model.files import atomic_write_bytes
from model.onnx_export import FORMATS, export_onnx


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "export",
        help="write a checkpoint as an ONNX file",
        description="Write a checkpoint as a standard ONNX model: one ONNX LSTM, GRU or RNN "
        "operator per layer and the linear head, dynamic batch and time axes, sequence_lens "
        "for ragged batches, initial_h/initial_c in and Y_h/Y_c out, the scaling folded into "
        "the weights (inputs and outputs in your units) and the checkpoint's metadata in "
        "metadata_props.",
    )
    parser.add_argument("path", type=Path, help="the checkpoint (.safetensors, .pt or .onnx)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (the only one)")
    parser.add_argument("--out", type=Path, required=True, help="output path, e.g. model.onnx")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.path)
    data = export_onnx(checkpoint, name=args.path.stem)
    atomic_write_bytes(args.out, data)
    summary = {"out": str(args.out), "format": args.format, "bytes": len(data)}
    print(json.dumps({**summary, "config": checkpoint.config.to_dict()}))
    return 0
