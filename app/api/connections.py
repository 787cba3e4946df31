"""Backpressure on connections, below the app: uvicorn's HTTP protocol with a cap on open
connections and a deadline for a request's headers. A connection past the cap is answered 503
(with Retry-After) and closed at once; a client that has not sent a whole request head within
`header_timeout_seconds` of connecting, or of starting its next request, is answered 408 and
closed, so slow clients (slowloris) cannot hold every connection; a head over
`MAX_HEAD_BYTES` is answered 431. The time a body may take is the body-limit middleware's
(app/api/body_limit.py). Each small answer leaves in one write (`_OneWriteResponses`)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


class _OneWriteResponses:
    """The connection's transport, writing a response's head and the first bytes of its body in
    one write: uvicorn writes them apart, which costs a second send system call, a second packet
    and a second wake-up of the client for every small answer. Whatever is written is held for
    at most the rest of the event loop's turn (a streamed body's head still leaves at once), and
    everything leaves in the order written."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
            self._transport.write(data)
        elif data.endswith(b"\r\n\r\n"):  # a head (or a chunk that ends like one): hold it
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


def _canned(status: str, code: str, message: str, extra: str = "") -> bytes:
    """A whole HTTP response in the service's error shape, written before any request runs."""
    body = orjson.dumps({"error": {"code": code, "message": message, "location": []}})
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


MAX_HEAD_BYTES = 64 * 1024  # request line and headers; the parser itself sets no bound


def guarded_protocol(max_connections: int, header_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with these limits."""
    over_cap = _canned(
        "503 Service Unavailable",
        "overloaded",
        f"the server holds {max_connections} connections; try again shortly",
        "retry-after: 1\r\n",
    )
    too_slow = _canned(
        "408 Request Timeout",
        "request_timeout",
        f"the request head took over {header_timeout_s:g} s",
    )
    too_big = _canned(
        "431 Request Header Fields Too Large",
        "headers_too_large",
        f"the request line and headers are over {MAX_HEAD_BYTES} bytes",
    )

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, config: Config, server_state: ServerState, **kwargs: Any) -> None:
            super().__init__(config, server_state, **kwargs)
            self._head_deadline: asyncio.TimerHandle | None = None
            self._head_bytes = 0
            self._refused = False  # answered and closing: nothing more of it runs

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = _OneWriteResponses(transport, self.loop)  # type: ignore[assignment]
            if len(self.connections) > max_connections:
                self._refuse(over_cap)
                return
            self._arm()  # a client that connects and sends nothing is a slow client too

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            if self._head_deadline is None:  # a new connection's deadline runs on
                self._arm()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            if not self._refused:
                super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(too_big)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_deadline = self.loop.call_later(header_timeout_s, self._refuse, too_slow)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _refuse(self, answer: bytes) -> None:
            self._disarm()
            self._refused = True
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

    return GuardedProtocol
