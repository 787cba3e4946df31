"""`lstm-serve COMMAND`: the parser of every command, and the one place their errors become an
exit status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import (
    export,
    forecast,
    import_checkpoint,
    inspect_checkpoint,
    predict,
    serve,
    train,
)
from model.errors import ModelError

COMMANDS = (serve, train, predict, forecast, export, import_checkpoint, inspect_checkpoint)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-serve", description="Train and serve LSTM sequence models over HTTP."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # a command that runs itself again (train under torchrun) needs them
    try:
        return int(args.handler(args))
    except ModelError as exc:
        print(f"lstm-serve {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
