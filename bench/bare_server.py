"""`lstm-serve serve` with its observability off: the app without its access-log middleware
(no request id, no access line, no request metrics), for `make bench-path`'s on/off rows.
Run with the same arguments as `lstm-serve serve`."""

from __future__ import annotations

import sys

from fastapi import FastAPI

import app.main
from app.api.access_log import AccessLog
from app.cli.main import main

_create_app = app.main.create_app


def _bare_app(*args: object, **kwargs: object) -> FastAPI:
    served = _create_app(*args, **kwargs)  # type: ignore[arg-type]
    served.user_middleware = [m for m in served.user_middleware if m.cls is not AccessLog]
    return served


app.main.create_app = _bare_app  # `serve` imports it when it starts the server

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
