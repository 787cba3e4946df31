"""`lstm-serve import`: a PyTorch state_dict `.pt` file converted to `.safetensors`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli import Subparsers
from app.cli.inspect_checkpoint import describe
from model.checkpoint import load_checkpoint, save_checkpoint
from model.errors import InvalidInput


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "import",
        help="convert a PyTorch state_dict .pt file to .safetensors",
        description="Import a plain state_dict saved with torch.save(model.state_dict()) from "
        "the classic model (nn.LSTM, nn.GRU or nn.RNN as self.lstm, self.gru or self.rnn, then "
        "nn.Linear as self.fc); the cell and the architecture are read off the tensors.",
    )
    parser.add_argument("path", type=Path, help="the .pt file")
    parser.add_argument(
        "--nonlinearity",
        choices=["tanh", "relu"],
        default="tanh",
        help="an nn.RNN's activation, which its weights do not tell (tanh)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors path")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.path.suffix not in (".pt", ".pth"):
        raise InvalidInput(f"{args.path}: expected a .pt or .pth file", ("path",))
    checkpoint = load_checkpoint(args.path, nonlinearity=args.nonlinearity)
    save_checkpoint(checkpoint, args.out)
    print(json.dumps({"out": str(args.out), **describe(checkpoint)}))
    return 0
