"""Predictions: a ragged batch of sequences, from zero state, a given state, or a session.

The route reads its body itself, so that numbers go straight into arrays: JSON through the fast
path of app/json_body.py, or a binary .npy/.npz body (app/binary_body.py). Every model call goes
through the batcher, and the answer is JSON written from the arrays (app/answers.py)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.answers import prediction_json
from app.arrays import LSTMState, PredictInput, check_finite, make_batch, state_to_arrays
from app.batching import Batcher
from app.binary_body import read_npy, read_npz
from app.config import Settings
from app.dependencies import Services, ServicesDep, SettingsDep, body_media_type, is_json
from app.errors import (
    ModelUnavailable,
    SessionConflict,
    UnknownModelVersion,
    UnsupportedMediaType,
    responses,
)
from app.json_body import read_json
from app.limits import check_batch_limits
from app.predict_docs import NPY_TYPE, NPZ_TYPE, PREDICT_OPENAPI
from app.registry import LoadedModel, ModelRegistry
from app.schemas import PredictResponse, SessionInfo
from app.sessions import Kept
from model.errors import InvalidInput
from model.inference import Prediction

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=responses(400, 404, 409, 413, 415, 422, 503),
    openapi_extra=PREDICT_OPENAPI,
)
async def predict(request: Request, services: ServicesDep, settings: SettingsDep) -> Response:
    """Predict from each sequence, optionally continuing from a state or a kept session."""
    parsed = await _read(request, settings)
    check_batch_limits(parsed.lengths, settings)
    session = None
    if parsed.options.session_id is not None:
        model, prediction, session = await _predict_in_session(
            parsed, parsed.options.session_id, services
        )
    else:
        model = await _model(services.registry, parsed.options.model_version)
        prediction = await _run(services.runner, model, parsed, _request_state(parsed, model))
    answer = prediction_json(
        settings.model_name, model.version, parsed.options, prediction, session
    )
    return Response(answer, media_type="application/json")


async def _read(request: Request, settings: Settings) -> PredictInput:
    media_type = body_media_type(request)
    if is_json(media_type):
        if request.query_params:
            name = next(iter(request.query_params))
            raise InvalidInput(f"query parameter {name!r}: a JSON body holds its options", (name,))
        return read_json(await request.body())
    if media_type == NPY_TYPE:
        return read_npy(await request.body(), request.query_params)
    if media_type == NPZ_TYPE:
        return read_npz(await request.body(), request.query_params, settings.max_body_bytes)
    raise UnsupportedMediaType(
        f"send the body as application/json, {NPY_TYPE} or {NPZ_TYPE}, "
        f"not {media_type or 'no content type'}"
    )


async def _predict_in_session(
    parsed: PredictInput, session_id: str, services: Services
) -> tuple[LoadedModel, Prediction, SessionInfo]:
    async with services.sessions.hold(session_id) as session:
        kept = session.kept
        if kept is None:
            model = await _model(services.registry, parsed.options.model_version)
            state = _request_state(parsed, model)
        else:
            model = await _session_model(services.registry, session_id, kept, parsed)
            state = kept.state
        # The session's lock is held until its state is saved: its next request starts there.
        prediction = await _run(services.runner, model, parsed, state)
        services.sessions.save(session, model.version, (prediction.h, prediction.c))
    info = SessionInfo(id=session_id, version=model.version, started=kept is None)
    return model, prediction, info


async def _session_model(
    registry: ModelRegistry, session_id: str, kept: Kept, parsed: PredictInput
) -> LoadedModel:
    """The version a started session is pinned to, once the request is checked to fit it."""
    if parsed.state is not None:
        raise SessionConflict(
            f"session {session_id!r} already holds the state; send state or session_id, not both",
            ("state",),
        )
    if parsed.options.model_version not in (None, kept.version):
        raise SessionConflict(
            f"session {session_id!r} is pinned to model version {kept.version}",
            ("model_version",),
        )
    sequences = kept.state[0].shape[1]
    if len(parsed.lengths) != sequences:
        raise InvalidInput(
            f"session {session_id!r} holds the state of {sequences} sequences; send {sequences}",
            ("inputs",),
        )
    try:
        return await _model(registry, kept.version)
    except UnknownModelVersion as exc:
        raise ModelUnavailable(
            f"session {session_id!r} is pinned to model version {kept.version}, "
            "which is no longer stored"
        ) from exc


async def _model(registry: ModelRegistry, version: str | None) -> LoadedModel:
    active = registry.active  # read once: a swap may happen at any time
    if active is not None and version in (None, active.version):
        return active
    # Another version may have to be loaded from its file: keep that off the event loop.
    return await anyio.to_thread.run_sync(registry.get, version)


def _request_state(parsed: PredictInput, model: LoadedModel) -> LSTMState | None:
    if parsed.state is None:
        return None
    return state_to_arrays(parsed.state, model.predictor.config, len(parsed.lengths))


async def _run(
    batcher: Batcher, model: LoadedModel, parsed: PredictInput, state: LSTMState | None
) -> Prediction:
    """Shapes are checked before the call queues; what only the model can find (inputs beyond
    its scaling) fails this request alone (app/batching.py)."""
    batch = make_batch(parsed, model.predictor.config, state, parsed.options.return_sequence)
    prediction = await batcher.predict(model.predictor, batch)
    check_finite(prediction)
    return prediction
