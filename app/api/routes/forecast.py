"""Forecasts: a series model rolled forward from a history, with prediction intervals."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from app.api.dependencies import InferenceDep, require_json
from app.api.errors import responses
from app.api.openapi import INLINE_PARSE_BYTES, inlined
from app.protocol.v1.forecast import ForecastRequest, ForecastResponse, read_forecast
from app.serving import forecasting

router = APIRouter(prefix="/v1", tags=["forecast"])

_FORECAST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inlined(ForecastRequest.model_json_schema())}},
    }
}


@router.post(
    "/forecast",
    response_model=ForecastResponse,
    responses=responses(400, 401, 403, 404, 413, 415, 422, 503),
    dependencies=[Depends(require_json)],
    openapi_extra=_FORECAST_BODY,
)
async def forecast(request: Request, call: InferenceDep) -> ForecastResponse:
    """Forecast the next `horizon` steps after `history`, feeding the model's predictions back,
    with split-conformal prediction intervals at `levels`."""
    body = await request.body()
    limit = call.services.limits.max_sequence_steps
    if len(body) > INLINE_PARSE_BYTES:  # parsing it would hold up every other request
        parsed = await anyio.to_thread.run_sync(read_forecast, body, limit)
    else:
        parsed = read_forecast(body, limit)
    return await forecasting.forecast(parsed, call.services, call.settings)
