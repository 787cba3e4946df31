"""Request size limits, all answered with 413: the body's bytes (by Content-Length before any
byte is read, then counted while it streams, since chunked bodies have no length) and the
batch's shape (sequences, steps per sequence, steps in all)."""

from __future__ import annotations

import numpy as np
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import LimitExceeded, error_response


class BodySizeLimit:
    """Pure ASGI middleware, so it sees the body as it streams and before the app parses it."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        """`per_path`: other limits for exact paths (data set uploads)."""
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = error_response(413, "payload_too_large", _message(limit), path=scope["path"])
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException, so the framework passes it on to app/errors.py unchanged.
                raise HTTPException(413, _message(limit))
            return message

        await self.app(scope, counting_receive, send)


def _message(limit: int) -> str:
    return f"request body over the limit of {limit} bytes"


def check_batch_limits(lengths: np.ndarray, settings: Settings) -> None:
    """`lengths`: (B,) steps of each sequence of a request."""
    if len(lengths) > settings.max_batch_size:
        raise LimitExceeded(
            f"{len(lengths)} sequences; at most {settings.max_batch_size} per request", ("inputs",)
        )
    too_long = np.flatnonzero(lengths > settings.max_sequence_steps)
    if too_long.size:
        b = int(too_long[0])
        raise LimitExceeded(
            f"{lengths[b]} steps; at most {settings.max_sequence_steps} per sequence",
            ("inputs", b),
        )
    total = int(lengths.sum())
    if total > settings.max_total_steps:
        raise LimitExceeded(
            f"{total} steps in all; at most {settings.max_total_steps} per request", ("inputs",)
        )
