"""Request size limits, all answered with 413: the body's bytes (by Content-Length before any
byte is read, then counted while it streams, since chunked bodies have no length) and the
batch's shape (sequences, steps per sequence, steps in all)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import LimitExceeded, error_response
from app.schemas import PredictRequest


class BodySizeLimit:
    """Pure ASGI middleware, so it sees the body as it streams and before the app parses it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, "payload_too_large", self._message())
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # An HTTPException, so the framework passes it on to app/errors.py unchanged.
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body over the limit of {self.max_bytes} bytes"


def check_batch_limits(request: PredictRequest, settings: Settings) -> None:
    inputs = request.inputs
    if len(inputs) > settings.max_batch_size:
        raise LimitExceeded(
            f"{len(inputs)} sequences; at most {settings.max_batch_size} per request", ("inputs",)
        )
    for b, sequence in enumerate(inputs):
        if len(sequence) > settings.max_sequence_steps:
            raise LimitExceeded(
                f"{len(sequence)} steps; at most {settings.max_sequence_steps} per sequence",
                ("inputs", b),
            )
    total = sum(len(sequence) for sequence in inputs)
    if total > settings.max_total_steps:
        raise LimitExceeded(
            f"{total} steps in all; at most {settings.max_total_steps} per request", ("inputs",)
        )
