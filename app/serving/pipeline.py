"""The one path from a parsed request to a prediction, shared by /v1/predict and the Open
Inference Protocol's infer (app/api/routes/v2.py): the model version, the session's state, the
dynamic batcher. Both APIs give the same numbers for the same inputs because both run this."""

from __future__ import annotations

from typing import NamedTuple

import anyio.to_thread

from app.core.errors import ModelUnavailable, SessionConflict, UnknownModelVersion
from app.protocol.request import PredictInput, SessionStep
from app.protocol.v1.schemas import SessionInfo
from app.registry.models import LoadedModel, ModelRegistry
from app.serving.batcher import Batcher
from app.serving.checked_input import check_limits, make_batch, state_to_arrays
from app.serving.services import Services
from app.serving.sessions import Kept
from model.errors import InvalidInput
from model.inference import Prediction, State


class Outcome(NamedTuple):
    model: LoadedModel
    prediction: Prediction
    session: SessionInfo | None


async def predict(
    parsed: PredictInput,
    services: Services,
    step: SessionStep | None,
    resolved: LoadedModel | None = None,
) -> Outcome:
    """The prediction for `parsed`, from its own state or its session's. `resolved`: the model
    the caller already looked up for `parsed.options.model_version` (v2 reads its tensors with
    the model's config), so that a hot swap between two look-ups cannot mix versions; a session
    that has started stays on its own version."""
    check_limits(parsed.lengths, services.limits)
    if step is not None:
        return await _predict_in_session(parsed, step, services, resolved)
    model = resolved or await model_for(services.registry, parsed.options.model_version)
    prediction = await _run(services.batcher, model, parsed, _request_state(parsed, model))
    return Outcome(model, prediction, None)


async def _predict_in_session(
    parsed: PredictInput, step: SessionStep, services: Services, resolved: LoadedModel | None
) -> Outcome:
    async with services.sessions.hold(step.id, step.owner) as session:
        # A fresh start ignores the old state rather than dropping it: should this request
        # fail, the session is as it was.
        kept = None if step.start else session.kept
        state: State | None
        if kept is not None:
            model = await _session_model(services.registry, step.id, kept, parsed)
            state = kept.state
        elif step.start is False:
            raise InvalidInput(
                f"sequence {step.id} has not started, or has ended or expired: "
                "its first request needs sequence_start",
                ("parameters", "sequence_start"),
            )
        else:
            model = resolved or await model_for(services.registry, parsed.options.model_version)
            state = _request_state(parsed, model)
        # Refused before the model runs when the state could never be kept.
        services.sessions.check_fits(_state_bytes(model, len(parsed.lengths)))
        # The session's lock is held until its state is saved: its next request starts there.
        prediction = await _run(services.batcher, model, parsed, state)
        if step.end:
            await services.sessions.end(session)
        else:
            await services.sessions.save(session, model.version, prediction.state)
    info = SessionInfo(id=step.id, version=model.version, started=kept is None)
    return Outcome(model, prediction, info)


async def _session_model(
    registry: ModelRegistry, session_id: str, kept: Kept, parsed: PredictInput
) -> LoadedModel:
    """The version a started session is pinned to, once the request is checked to fit it."""
    if parsed.state is not None:
        raise SessionConflict(
            f"session {session_id!r} has started and continues from its own state: "
            "send no initial state",
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
        return await model_for(registry, kept.version)
    except UnknownModelVersion as exc:
        raise ModelUnavailable(
            f"session {session_id!r} is pinned to model version {kept.version}, "
            "which is no longer stored"
        ) from exc


async def model_for(registry: ModelRegistry, version: str | None) -> LoadedModel:
    """The active model (version None) or the given version."""
    active = registry.active  # read once: a swap may happen at any time
    if active is not None and version in (None, active.version):
        return active
    # Another version may have to be loaded from its file: keep that off the event loop.
    return await anyio.to_thread.run_sync(registry.get, version)


def _state_bytes(model: LoadedModel, sequences: int) -> int:
    """What a session keeps for `sequences`: h and an LSTM's c, (num_layers, B, hidden_size)
    float32 each."""
    config = model.predictor.config
    parts = 2 if config.has_cell_state else 1
    return parts * config.num_layers * sequences * config.hidden_size * 4


def _request_state(parsed: PredictInput, model: LoadedModel) -> State | None:
    if parsed.state is None:
        return None
    return state_to_arrays(parsed.state, model.predictor.config, len(parsed.lengths))


async def _run(
    batcher: Batcher, model: LoadedModel, parsed: PredictInput, state: State | None
) -> Prediction:
    """Shapes are checked before the call queues; what only the model can find (inputs beyond
    its scaling, an output that is not finite) fails this request alone
    (app/serving/batcher.py)."""
    batch = make_batch(parsed, model.predictor.config, state, parsed.options.return_sequence)
    return await batcher.predict(model.predictor, batch)
