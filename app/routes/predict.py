"""Predictions: a ragged batch of sequences, from zero state, a given state, or a session."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends

from app.arrays import LSTMState, check_finite, make_batch, state_to_arrays
from app.config import Settings
from app.dependencies import RegistryDep, RunnerDep, SessionsDep, SettingsDep, require_json
from app.errors import ModelUnavailable, SessionConflict, UnknownModelVersion, responses
from app.limits import check_batch_limits
from app.registry import LoadedModel, ModelRegistry
from app.runner import ModelRunner
from app.schemas import ModelRef, PredictRequest, PredictResponse, SessionInfo, State
from app.sessions import Kept, SessionStore
from model.errors import InvalidInput
from model.inference import Prediction

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=responses(400, 404, 409, 413, 415, 422, 503),
    dependencies=[Depends(require_json)],
)
async def predict(
    request: PredictRequest,
    registry: RegistryDep,
    sessions: SessionsDep,
    runner: RunnerDep,
    settings: SettingsDep,
) -> PredictResponse:
    """Predict from each sequence, optionally continuing from a state or a kept session."""
    check_batch_limits(request, settings)
    if request.session_id is not None:
        return await _predict_in_session(
            request, request.session_id, registry, sessions, runner, settings
        )
    model = await _model(registry, request.model_version)
    state = _request_state(request, model)
    prediction = await _run(runner, model, request, state)
    return _response(request, settings, model.version, prediction, None)


async def _predict_in_session(
    request: PredictRequest,
    session_id: str,
    registry: ModelRegistry,
    sessions: SessionStore,
    runner: ModelRunner,
    settings: Settings,
) -> PredictResponse:
    async with sessions.hold(session_id) as session:
        kept = session.kept
        if kept is None:
            model = await _model(registry, request.model_version)
            state = _request_state(request, model)
        else:
            model = await _session_model(registry, session_id, kept, request)
            state = kept.state
        prediction = await _run(runner, model, request, state)
        sessions.save(session, model.version, (prediction.h, prediction.c))
    info = SessionInfo(id=session_id, version=model.version, started=kept is None)
    return _response(request, settings, model.version, prediction, info)


async def _session_model(
    registry: ModelRegistry, session_id: str, kept: Kept, request: PredictRequest
) -> LoadedModel:
    """The version a started session is pinned to, once the request is checked to fit it."""
    if request.state is not None:
        raise SessionConflict(
            f"session {session_id!r} already holds the state; send state or session_id, not both",
            ("state",),
        )
    if request.model_version not in (None, kept.version):
        raise SessionConflict(
            f"session {session_id!r} is pinned to model version {kept.version}",
            ("model_version",),
        )
    sequences = kept.state[0].shape[1]
    if len(request.inputs) != sequences:
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
    # Loading a version that is not cached reads a file: keep it off the event loop.
    return await anyio.to_thread.run_sync(registry.get, version)


def _request_state(request: PredictRequest, model: LoadedModel) -> LSTMState | None:
    if request.state is None:
        return None
    return state_to_arrays(request.state, model.predictor.config, len(request.inputs))


async def _run(
    runner: ModelRunner, model: LoadedModel, request: PredictRequest, state: LSTMState | None
) -> Prediction:
    config = model.predictor.config
    batch = make_batch(request.inputs, config, state, request.return_sequence)
    prediction = await runner.predict(model.predictor, batch)
    check_finite(prediction)
    return prediction


def _response(
    request: PredictRequest,
    settings: Settings,
    version: str,
    prediction: Prediction,
    session: SessionInfo | None,
) -> PredictResponse:
    state = None
    if request.return_state:
        state = State(h=prediction.h.tolist(), c=prediction.c.tolist())
    sequence = None
    if prediction.steps is not None:
        sequence = [steps.tolist() for steps in prediction.steps]
    return PredictResponse(
        model=ModelRef(name=settings.model_name, version=version),
        predictions=prediction.predictions.tolist(),
        state=state,
        sequence=sequence,
        session=session,
    )
