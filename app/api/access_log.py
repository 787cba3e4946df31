"""Per request: a request id, one access log line and the request metrics, in one pure ASGI
middleware, the outermost of the app, so it also sees the answers that other middleware gives
before routing (413 over the body limit) and the 500 of an unexpected error.

The request id is the caller's `X-Request-ID` when it is sane (1-64 letters, digits, `.`, `_`,
`:` or `-`, so it cannot forge log lines or bloat them), else a new one; either way it is
returned in the `X-Request-ID` response header and put on every log record of the request.
The access line has method, route template, path, status, duration, client and request id;
never a header or the body."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import request_id, request_id_var
from app.observability.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_ID_KEY = REQUEST_ID_HEADER.lower().encode()  # ASGI's header names are lower case
UNMATCHED = "unmatched"  # the route label of a path no route has: bounded cardinality
# No answer was sent at all: cancelled at the shutdown timeout (nginx's "client closed").
NO_ANSWER = 499
_MAX_PATH = 256

access_logger = logging.getLogger("app.access")


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        status = NO_ANSWER

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_ID_KEY, request_id.encode())]
            await send(message)

        self.metrics.requests_in_flight += 1
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status != NO_ANSWER or not await _answer_error(scope, receive, send_with_id, exc):
                raise
        finally:
            self.metrics.requests_in_flight -= 1
            self._record(scope, status, time.perf_counter() - started, request_id)
            request_id_var.reset(context)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route, method = route_template(scope), scope["method"]
        self.metrics.observe_request(route, method, status, seconds)
        path = _path(scope)
        client = scope.get("client")
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "client": client[0] if client else None,
            "request_id": request_id,
        }
        if access_logger.isEnabledFor(logging.INFO):
            # Made here rather than by `info()`: the caller's file and line, which `info()` finds
            # by walking the stack, say nothing of a request.
            args = (method, path, status, seconds * 1000)
            line = "%s %s %d %.1f ms"
            access_logger.handle(
                access_logger.makeRecord(
                    access_logger.name, logging.INFO, "", 0, line, args, None, extra=fields
                )
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return request_id(value.decode("latin-1"))
    return request_id(None)


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/train/{job_id}`), never the raw path. An answer given
    before routing (413 by the body limit) is matched here, the way the router would."""
    route = scope.get("route")
    if route is None:
        for candidate in leaf_routes(getattr(scope.get("app"), "routes", ())):
            if candidate.matches(scope)[0] is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes, with included routers opened (FastAPI keeps each included router as
    one route that holds the router's own routes, whose paths carry the prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from leaf_routes(inner.routes)
        else:
            yield route


def _path(scope: Scope) -> str:
    """The path as sent (still percent-encoded, so no control character reaches a log line),
    without the query string, cut to a bounded length."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw.decode("ascii", "replace")[:_MAX_PATH]


async def _answer_error(scope: Scope, receive: Receive, send: Send, exc: Exception) -> bool:
    """An unexpected error reached us before any answer: answer it here with the app's own
    handler (app/api/errors.py, which logs it), so the 500 carries the request id too. False when
    the app has no handler for it (then the server's error middleware answers)."""
    handlers = getattr(scope.get("app"), "exception_handlers", {})
    handler = handlers.get(Exception)
    if handler is None:
        return False
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)
    return True
