"""The body's limits: its size, answered with 413 (by Content-Length before any byte is read,
then counted while it streams, since chunked bodies have no length), and the time each chunk
may take to arrive, answered with 408 (a client that trickles its body holds no request for
long). The limits on a batch's shape are the serving pipeline's
(app/serving/checked_input.py)."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response


class BodySizeLimit:
    """Pure ASGI middleware, so it sees the body as it streams and before the app parses it."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        per_path: dict[str, int] | None = None,
        chunk_timeout_s: float = 30.0,
    ) -> None:
        """`per_path`: other limits for exact paths (data set uploads)."""
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}
        self.chunk_timeout_s = chunk_timeout_s

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
        received, complete = 0, False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # past the body, receive() waits for the disconnect: no deadline
                return await receive()
            try:
                # asyncio's own timeout: a fifth of anyio's cost, paid on every request.
                async with asyncio.timeout(self.chunk_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"no body bytes for {self.chunk_timeout_s:g} s") from None
            complete = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException, so the framework passes it on to app/api/errors.py unchanged.
                raise HTTPException(413, _message(limit))
            return message

        await self.app(scope, counting_receive, send)


def _message(limit: int) -> str:
    return f"request body over the limit of {limit} bytes"
