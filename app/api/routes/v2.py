"""The Open Inference Protocol (KServe v2 / Triton REST) beside /v1, on the same models, sessions
and batcher: server and model metadata, health, and infer, with Triton's binary tensor data and
sequence extensions. The model is named by the `model_name` setting; its versions are the
store's. Errors leave in the protocol's `{"error": "message"}` shape (app/api/errors.py)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.dependencies import InferenceCall, InferenceDep, RegistryDep, SettingsDep
from app.api.openapi import INLINE_PARSE_BYTES, inlined
from app.core.errors import NotReady, UnknownModel, UnknownModelVersion
from app.core.settings import Settings
from app.protocol.v2.lstm import (
    inputs_metadata,
    outputs,
    outputs_metadata,
    predict_input,
    session_step,
    wanted_outputs,
)
from app.protocol.v2.schemas import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    V2Error,
)
from app.protocol.v2.tensors import HEADER_LENGTH, read_request, response_body
from app.registry.models import ModelRegistry
from app.serving import pipeline
from model.errors import InvalidInput

router = APIRouter(prefix="/v2", tags=["v2"])

EXTENSIONS = ["binary_tensor_data", "sequence"]

_DESCRIPTIONS = {
    400: "Bad input: JSON, tensor names, datatypes, shapes or values, parameters, binary data",
    401: "The server has inference keys and the request sent none",
    403: "The bearer token is not an inference key",
    404: "Unknown model or version",
    409: "A sequence's state or version does not fit the request, or a version cannot be loaded",
    413: "Over a size limit: body bytes, sequences, steps",
    429: "A sequence's state is over the byte budget of all sequences",
    503: "No model loaded yet, or overloaded (see Retry-After)",
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_INFER_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inlined(InferenceRequest.model_json_schema())},
            "application/octet-stream": _BINARY,  # the JSON header, then binary inputs
        },
    },
    "parameters": [
        {
            "name": HEADER_LENGTH,
            "in": "header",
            "required": False,
            "description": "binary tensor data: the JSON header's length in bytes",
            "schema": {"type": "integer", "minimum": 0},
        }
    ],
}
_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": _BINARY}},
}


def _responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=`: the listed errors, and any other (a 405, say) in the same shape.
    The default entry also keeps FastAPI from listing a 422, which /v2 never sends."""
    listed: dict[int | str, dict[str, Any]] = {
        code: {"model": V2Error, "description": _DESCRIPTIONS[code]} for code in status_codes
    }
    return {**listed, "default": {"model": V2Error, "description": "Any other error"}}


@router.get("", response_model=ServerMetadata, responses=_responses())
async def server_metadata(request: Request) -> ServerMetadata:
    """Server metadata: name, version and the protocol extensions it supports."""
    return ServerMetadata(name="lstm-serve", version=request.app.version, extensions=EXTENSIONS)


@router.get("/health/live", response_model=ServerLive, responses=_responses())
async def live() -> ServerLive:
    """Liveness: 200 while the process serves."""
    return ServerLive(live=True)


@router.get("/health/ready", response_model=ServerReady, responses=_responses(503))
async def ready(registry: RegistryDep) -> ServerReady:
    """Readiness: 200 once a model is loaded, else 503."""
    if registry.active is None:
        raise NotReady("no model is loaded yet")
    return ServerReady(ready=True)


# Plain `def` routes: FastAPI runs them in its thread pool, so SQLite never blocks the loop.
@router.get("/models/{name}", response_model=ModelMetadata, responses=_responses(404, 503))
def model_metadata(name: str, registry: RegistryDep, settings: SettingsDep) -> ModelMetadata:
    """Model metadata of the active version: inputs, outputs, every stored version."""
    return _metadata(name, None, registry, settings)


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=_responses(404, 503),
)
def version_metadata(
    name: str, version: str, registry: RegistryDep, settings: SettingsDep
) -> ModelMetadata:
    """Model metadata of one version: inputs, outputs, every stored version."""
    return _metadata(name, version, registry, settings)


@router.get("/models/{name}/ready", response_model=ModelReady, responses=_responses(404, 503))
async def model_ready(name: str, registry: RegistryDep, settings: SettingsDep) -> ModelReady:
    """Readiness of the model's active version: 200 once loaded."""
    return await _ready(name, None, registry, settings)


@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=ModelReady,
    responses=_responses(404, 409, 503),
)
async def version_ready(
    name: str, version: str, registry: RegistryDep, settings: SettingsDep
) -> ModelReady:
    """Readiness of one version: 200 once it is loaded (this loads it), 409 if it cannot be."""
    return await _ready(name, version, registry, settings)


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses={**_INFER_RESPONSES, **_responses(400, 401, 403, 404, 409, 413, 429, 503)},
    openapi_extra=_INFER_OPENAPI,
)
async def infer(
    name: str,
    request: Request,
    call: InferenceDep,
) -> Response:
    """Infer with the active version (or the one a sequence is pinned to)."""
    return await _infer(name, None, request, call)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    responses={**_INFER_RESPONSES, **_responses(400, 401, 403, 404, 409, 413, 429, 503)},
    openapi_extra=_INFER_OPENAPI,
)
async def infer_version(
    name: str,
    version: str,
    request: Request,
    call: InferenceDep,
) -> Response:
    """Infer with one version."""
    return await _infer(name, version, request, call)


async def _ready(
    name: str, version: str | None, registry: ModelRegistry, settings: Settings
) -> ModelReady:
    _check_name(name, settings)
    await pipeline.model_for(registry, version)
    return ModelReady(name=name, ready=True)


def _check_name(name: str, settings: Settings) -> None:
    if name != settings.model_name:
        raise UnknownModel(f"unknown model {name!r}; this server serves {settings.model_name!r}")


def _metadata(
    name: str, version: str | None, registry: ModelRegistry, settings: Settings
) -> ModelMetadata:
    _check_name(name, settings)
    if version is None:
        config = registry.get(None).predictor.config
    else:
        stored = registry.store.get(version)
        if stored is None:
            raise UnknownModelVersion(f"no model version {version!r}")
        config = stored.config
    return ModelMetadata(
        name=name,
        versions=[stored.version for stored in registry.store.versions()],
        platform=registry.backend,
        inputs=inputs_metadata(config),
        outputs=outputs_metadata(config),
    )


async def _infer(
    name: str,
    version: str | None,
    request: Request,
    call: InferenceCall,
) -> Response:
    """The same path as /v1/predict once the tensors are read: app/serving/pipeline.py."""
    services = call.services
    _check_name(name, call.settings)
    body = await request.body()
    header_length = request.headers.get(HEADER_LENGTH)
    if len(body) > INLINE_PARSE_BYTES:  # parsing it would hold up every other request
        received = await anyio.to_thread.run_sync(read_request, body, header_length)
    else:
        received = read_request(body, header_length)
    if received.request.model_name not in (None, name):
        raise InvalidInput(f"model_name {received.request.model_name!r} is not the path's {name!r}")
    step = session_step(received.request.parameters)
    step = None if step is None else step._replace(owner=call.owner)
    resolved = await pipeline.model_for(services.registry, version)  # once per request
    wanted = wanted_outputs(received.request, resolved.predictor.config)
    parsed = predict_input(received, resolved.predictor.config, version, wanted)
    model, prediction, _ = await pipeline.predict(parsed, services, step, resolved)
    head = {"model_name": name, "model_version": model.version}
    if received.request.id is not None:
        head["id"] = received.request.id
    steps = received.tensors["inputs"].shape[1]
    body, headers = response_body(head, outputs(prediction, wanted, steps))
    return Response(body, headers=headers)
