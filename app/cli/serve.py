"""`lstm-serve serve`: settings from flags over LSTM_SERVE_* variables, then uvicorn.

The app's lifespan is entered here, before uvicorn starts, so a model that cannot be loaded
stops start-up with one line on stderr (no traceback, no half-started server)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.cli import Subparsers
from app.core.errors import StartupError
from app.core.settings import Settings
from model.backends import BACKENDS
from model.errors import ModelError

if TYPE_CHECKING:
    from app.grpc.server import GrpcServer

_FLAGS = (
    "model",
    "host",
    "port",
    "grpc_port",
    "workers",
    "data_dir",
    "backend",
    "api_token",
    "api_token_file",
    "no_auth",
)


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "serve", help="start the HTTP service", description="Start the HTTP service."
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="checkpoint (.safetensors, state_dict .pt, or .onnx) to import and serve; default: "
        "the store's active version, or the shipped sunspot model on a new data directory",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--grpc-port",
        type=int,
        help="also serve the Open Inference Protocol over gRPC on this port (default 0: off)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes on this host, each with its own SO_REUSEPORT socket on the port "
        "(default 1); they share the data directory, the database and the session store",
    )
    parser.add_argument("--data-dir", type=Path, help="model store directory (default ./var)")
    parser.add_argument("--backend", choices=BACKENDS, help="default torch")
    auth = parser.add_argument_group(
        "management token",
        "Training, cancel, activation and data set uploads need `Authorization: Bearer TOKEN`. "
        "Without a token the server generates one at start-up into DATA_DIR/api-token.",
    )
    auth.add_argument(
        "--api-token", help="the token (visible in `ps`: prefer LSTM_SERVE_API_TOKEN)"
    )
    auth.add_argument("--api-token-file", type=Path, help="read the token from this file")
    auth.add_argument(
        "--no-auth",
        action="store_const",
        const=True,
        help="no token at all: anyone who can reach the port can train and activate",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    overrides = {name: value for name in _FLAGS if (value := getattr(args, name)) is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return _fail(f"invalid setting {where}: {error['msg']}")
    # Everything the server and its training workers write (models, data sets, jobs, the
    # database, the token) is for the service's user alone: files 0600, directories 0700.
    os.umask(0o077)
    if settings.workers == 1:
        return serve_on_socket(settings, None, None)
    from app.cli.workers import supervise
    from app.observability.logs import log_config

    logging.config.dictConfig(log_config(settings))
    try:
        return supervise(settings, serve_on_socket)
    except OSError as exc:  # the port is taken
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc}")


def serve_on_socket(
    settings: Settings, sock: socket.socket | None, on_ready: Callable[[], None] | None
) -> int:
    """Run one server until it is stopped: on `sock` (a --workers worker's SO_REUSEPORT
    socket), else on settings.host:port. `on_ready`: called once it serves. The exit status."""
    import uvicorn  # the web stack: only this command loads it

    try:
        # The event loop `uvicorn` itself would run (uvloop when installed); asyncio.run's
        # default loop served ~15% fewer small predictions per second in `make bench`.
        loop_factory = uvicorn.Config("app.main:create_app").get_loop_factory()
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(settings, sock, on_ready))
    except (ModelError, StartupError, sqlite3.Error, OSError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # Ctrl+C while the model was still loading
        return 130
    return 0


async def _serve(
    settings: Settings, sock: socket.socket | None, on_ready: Callable[[], None] | None
) -> None:
    import uvicorn

    from app.api.connections import guarded_protocol
    from app.main import create_app, lifespan
    from app.observability.logs import log_config, skip_unused_record_fields

    skip_unused_record_fields()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="off",  # entered below, so a failed start is ours to report
        # SIGTERM: stop accepting, let requests in flight finish for up to this long (the
        # lifespan then answers the batcher's accepted calls and interrupts training jobs).
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        log_config=log_config(settings),
        http=guarded_protocol(settings.max_connections, settings.header_timeout_seconds),
        access_log=False,  # app/api/access_log.py logs each request, with its request id
    )
    logging.captureWarnings(True)  # Python warnings too, as log records in the same format
    async with lifespan(app):
        # uvicorn re-raises the SIGINT/SIGTERM it handled once it has shut down gracefully;
        # ignoring that re-raise lets the lifespan close before the process exits.
        previous = {
            sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        server = uvicorn.Server(config)
        app.state.stopping = lambda: server.should_exit  # ends event streams on shutdown
        grpc_server = await _start_grpc(app, settings)
        if on_ready is not None:
            on_ready()
        try:
            if sock is None:
                await server.serve()
            else:
                sock.listen(config.backlog)
                await server.serve(sockets=[sock])
        finally:
            if grpc_server is not None:  # its calls in flight finish before the lifespan closes
                await grpc_server.stop(settings.shutdown_timeout_seconds)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _start_grpc(app: Any, settings: Settings) -> GrpcServer | None:
    """The gRPC server on the services the lifespan started, when grpc_port is set."""
    if not settings.grpc_port:
        return None
    from app.grpc.server import start_grpc_server

    state = app.state
    return await start_grpc_server(settings, state.services, state.inference_keys, state.metrics)


def _fail(message: str) -> int:
    print(f"lstm-serve: error: {' '.join(message.split())}", file=sys.stderr)
    return 1
