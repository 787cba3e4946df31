"""The `lstm-serve` command: serve, train, predict, import, inspect.

Heavy modules are imported inside the handlers, so `serve --backend numpy` never loads torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app import cli_commands, server
from model.errors import ModelError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-serve", description="Train and serve LSTM sequence models over HTTP."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="start the HTTP service", description="Start the HTTP service."
    )
    server.add_serve_arguments(serve)
    serve.set_defaults(handler=server.run_serve)
    cli_commands.add_train(commands)
    cli_commands.add_predict(commands)
    cli_commands.add_import(commands)
    cli_commands.add_inspect(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ModelError as exc:
        print(f"lstm-serve {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
