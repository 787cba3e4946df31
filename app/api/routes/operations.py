"""Operations: Prometheus metrics. Open like the probes (no token): they hold counts, timings
and version numbers, never a payload or a secret; keep the port off the internet, as for
every route."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.dependencies import MetricsDep, OptionalServicesDep

router = APIRouter(tags=["operations"])

_EXPOSITION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The Prometheus text format (OpenMetrics when the Accept header asks)",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/metrics", response_class=Response, responses=_EXPOSITION)
async def metrics(
    request: Request, collected: MetricsDep, services: OptionalServicesDep
) -> Response:
    """Prometheus metrics: requests, latency, batches, sessions, model version, training."""
    if services is not None:
        usage = await services.sessions.usage()
        collected.sessions.set(usage.sessions)
    accept = request.headers.get("accept", "")
    body, content_type = await anyio.to_thread.run_sync(collected.exposition, accept)
    return Response(body, media_type=content_type)
