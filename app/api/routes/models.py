"""The model store: versions, the active one marked, and the hot swap."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Response

from app.api.dependencies import ManagementAuth, RegistryDep
from app.api.errors import responses
from app.core.errors import ModelUnavailable, UnknownModelVersion
from app.protocol.v1.schemas import (
    ActivateResponse,
    ModelConfigInfo,
    ModelDetail,
    ModelList,
    ModelVersionInfo,
    Scaling,
    SeriesTaskInfo,
)
from app.registry.models import ModelRegistry
from app.registry.store import ModelVersion
from model.checkpoint import checkpoint_scalers
from model.conformal import Calibration, without_residuals
from model.errors import CheckpointError
from model.onnx_export import MEDIA_TYPE, export_onnx
from model.series_task import SeriesTask

router = APIRouter(prefix="/v1/models", tags=["models"])
logger = logging.getLogger(__name__)


_EXPORT_FORMAT = Query(
    alias="format", description="the file format: onnx, a standard ONNX model (the only one)"
)
_EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The version as an ONNX file (an attachment): one ONNX LSTM, GRU or RNN "
        "operator per layer and the linear head, scaling folded into the weights, the "
        "checkpoint's metadata in metadata_props (see the Export page)",
        "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    **responses(401, 403, 404, 409, 422, 503),
}


def _info(stored: ModelVersion, active: str | None) -> ModelVersionInfo:
    return ModelVersionInfo(
        version=stored.version,
        created_at=stored.created_at,
        sha256=stored.sha256,
        active=stored.version == active,
        source=stored.source,
        metrics=stored.metrics,
    )


def _active_version(registry: ModelRegistry) -> str | None:
    active = registry.active  # read once: a swap may happen at any time
    return None if active is None else active.version


# Plain `def` routes: FastAPI runs them in its thread pool, so SQLite never blocks the loop.
@router.get("", response_model=ModelList, responses=responses(503))
def list_models(registry: RegistryDep) -> ModelList:
    """List the stored model versions, oldest first, the active one marked."""
    active = _active_version(registry)
    versions = registry.store.versions()
    return ModelList(active=active, versions=[_info(stored, active) for stored in versions])


@router.get("/{version}", response_model=ModelDetail, responses=responses(404, 422, 503))
def get_model(version: str, registry: RegistryDep) -> ModelDetail:
    """Show one version: config, metadata, provenance, metrics and sha256."""
    stored = registry.store.get(version)
    if stored is None:
        raise UnknownModelVersion(f"no model version {version!r}", ("version",))
    metadata = without_residuals(stored.metadata)
    return ModelDetail(
        **_info(stored, _active_version(registry)).model_dump(),
        config=ModelConfigInfo(**asdict(stored.config)),
        metadata=metadata,
        task=_task(stored, registry) if "task" in metadata else None,
    )


def _task(stored: ModelVersion, registry: ModelRegistry) -> SeriesTaskInfo:
    """The series task of the checkpoint, with its scaling (read from the file's header)."""
    task = SeriesTask.from_dict(stored.metadata["task"])
    path = registry.store.checkpoint_file(stored.version)
    try:
        inputs, targets = checkpoint_scalers(path)
    except CheckpointError as exc:
        raise ModelUnavailable(
            f"model version {stored.version} cannot be read: {exc.problem}"
        ) from exc
    calibration = stored.metadata.get("calibration")
    return SeriesTaskInfo(
        window=task.window,
        horizon=task.horizon,
        input_columns=list(task.input_columns),
        target_columns=list(task.target_columns),
        per_step=task.per_step,
        input_scaling=Scaling(**inputs.to_dict()),
        target_scaling=Scaling(**targets.to_dict()),
        forecast=task.unforecastable(),
        calibration=None if calibration is None else Calibration.from_dict(calibration).summary(),
    )


@router.post(
    "/{version}/activate",
    response_model=ActivateResponse,
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def activate_model(
    version: str, _: ManagementAuth, registry: RegistryDep
) -> ActivateResponse:
    """Make a version the active one; requests in flight finish on the one they started with."""
    previous = _active_version(registry)
    try:
        await anyio.to_thread.run_sync(registry.activate, version)
    except UnknownModelVersion as exc:
        raise UnknownModelVersion(exc.message, ("version",)) from exc
    fields = {"event": "model_activated", "version": version, "previous": previous}
    logger.info("model version %s activated (was %s)", version, previous, extra=fields)
    return ActivateResponse(active=version, previous=previous)


@router.get("/{version}/export", response_class=Response, responses=_EXPORTED)
async def export_model(
    version: str,
    _: ManagementAuth,
    registry: RegistryDep,
    file_format: Annotated[Literal["onnx"], _EXPORT_FORMAT] = "onnx",
) -> Response:
    """Download a version as a standard ONNX file, to serve it with any ONNX runtime."""
    data = await anyio.to_thread.run_sync(_exported, registry, version)  # ms of CPU: off the loop
    disposition = f'attachment; filename="lstm-serve-{version}.{file_format}"'
    return Response(data, media_type=MEDIA_TYPE, headers={"Content-Disposition": disposition})


def _exported(registry: ModelRegistry, version: str) -> bytes:
    """UnknownModelVersion (at the path's version) or ModelUnavailable as the store raises them;
    the version names the graph, so the file says what it is."""
    return export_onnx(registry.store.load(version, ("version",)), name=f"lstm_serve_{version}")
