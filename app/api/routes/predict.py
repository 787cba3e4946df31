"""Predictions: a ragged batch of sequences, from zero state, a given state, or a session.

The route reads its body itself, so that numbers go straight into arrays: JSON through the fast
path of app/protocol/v1/json_body.py, or a binary .npy/.npz body
(app/protocol/v1/binary_body.py). The serving pipeline checks and runs it, and the answer is JSON
written from the arrays (app/protocol/v1/answers.py)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.dependencies import InferenceCall, InferenceDep, body_media_type, is_json
from app.api.errors import responses
from app.api.openapi import INLINE_PARSE_BYTES, NPY_TYPE, NPZ_TYPE, PREDICT_OPENAPI
from app.core.errors import UnsupportedMediaType
from app.core.settings import Settings
from app.protocol.request import PredictInput, SessionStep
from app.protocol.v1.answers import prediction_json
from app.protocol.v1.binary_body import read_npy, read_npz
from app.protocol.v1.json_body import read_json
from app.protocol.v1.schemas import PredictResponse
from app.serving import pipeline
from model.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["predict"])
PREDICT_PATH = "/v1/predict"  # JSON bodies are answered by app/api/predict_lane.py

_BINARY_READERS = {NPY_TYPE: read_npy, NPZ_TYPE: read_npz}


@router.post(
    PREDICT_PATH.removeprefix(router.prefix),
    response_model=PredictResponse,
    responses=responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    openapi_extra=PREDICT_OPENAPI,
)
async def predict(request: Request, call: InferenceDep) -> Response:
    """Predict from each sequence, optionally continuing from a state or a kept session."""
    parsed = await _read(request, call.settings)
    return Response(await answer_prediction(parsed, call), media_type="application/json")


async def answer_prediction(parsed: PredictInput, call: InferenceCall) -> bytes:
    """The JSON answer to a parsed request, through the serving pipeline."""
    session_id = parsed.options.session_id
    step = None if session_id is None else SessionStep(session_id, owner=call.owner)
    model, prediction, session = await pipeline.predict(parsed, call.services, step)
    name = call.settings.model_name
    return prediction_json(name, model.version, parsed.options, prediction, session)


async def parse_json(body: bytes) -> PredictInput:
    if len(body) > INLINE_PARSE_BYTES:  # parsing it would hold up every other request
        return await anyio.to_thread.run_sync(read_json, body)
    return read_json(body)


async def _read(request: Request, settings: Settings) -> PredictInput:
    media_type = body_media_type(request.headers)
    if is_json(media_type):
        if request.query_params:
            name = next(iter(request.query_params))
            raise InvalidInput(f"query parameter {name!r}: a JSON body holds its options", (name,))
        return await parse_json(await request.body())
    if media_type in _BINARY_READERS:
        # Header checks, decompression and conversion are CPU work: off the event loop.
        body = await request.body()
        reader = _BINARY_READERS[media_type]
        return await anyio.to_thread.run_sync(
            reader, body, request.query_params, settings.max_body_bytes
        )
    raise UnsupportedMediaType(
        f"send the body as application/json, {NPY_TYPE} or {NPZ_TYPE}, "
        f"not {media_type or 'no content type'}"
    )
