"""The `lstm-serve` command line: `main.py` builds the parser, and each command is one module with
its parser and its body together (`serve`, `train`, `predict`, `forecast`, `export`,
`import_checkpoint`, `inspect_checkpoint`).

Only `serve` imports the web stack (`app.main`, uvicorn), and only when it runs, so the offline
commands never load FastAPI; `train` loads torch only when it trains.

May import: app.main, app.api (serve: the connection guard), app.grpc (serve: the gRPC server),
app.observability, app.core, model."""

from __future__ import annotations

from typing import Any

Subparsers = Any  # argparse's _SubParsersAction is private
