"""POST /v1/predict with a JSON body, the service's hottest request, answered in pure ASGI.

The framework's router, exception middleware, dependency resolution and Request/Response objects
cost a single-sequence prediction about as much as its own work does (`make bench-path`, and
the profile in docs/benchmarks.md). This middleware answers such a request itself, with the same
functions the route in app/api/routes/predict.py calls: the same auth, parse, pipeline, answer
and error table. It sits inside the access log and the body limit, so the request is logged,
counted and limited like any other. Everything else goes on to the app's routes: a binary body,
a JSON body with a query string (refused there, as the route does), and every other path; the
route stays the one the OpenAPI schema documents."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.dependencies import (
    InferenceCall,
    bearer_token,
    body_media_type,
    inference_call_from,
    is_json,
)
from app.api.errors import error_answer
from app.api.routes.predict import PREDICT_PATH, answer_prediction, parse_json

_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


class PredictLane:
    def __init__(self, app: ASGIApp, route: BaseRoute) -> None:
        """`route`: the app's /v1/predict route, named on the request for the access log."""
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PREDICT_PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not is_json(body_media_type(headers)):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            call = inference_call_from(scope["app"].state, bearer_token(headers))
            answer = await _predict(call, receive)
        except _Disconnected:
            return
        except Exception as exc:
            await error_answer(exc, PREDICT_PATH)(scope, receive, send)
            return
        length = str(len(answer)).encode("ascii")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": answer})


async def _predict(call: InferenceCall, receive: Receive) -> bytes:
    return await answer_prediction(await parse_json(await _body(receive)), call)


async def _body(receive: Receive) -> bytes:
    """The whole body; the body limit's receive raises HTTPException (408, 413) on its own."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
