"""The model store: versions, the active one marked."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.dependencies import RegistryDep
from app.errors import UnknownModelVersion, responses
from app.registry import ModelRegistry
from app.schemas import ModelConfigInfo, ModelDetail, ModelList, ModelVersionInfo
from app.store import ModelVersion

router = APIRouter(prefix="/v1/models", tags=["models"])


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
    return ModelDetail(
        **_info(stored, _active_version(registry)).model_dump(),
        config=ModelConfigInfo(**asdict(stored.config)),
        metadata=stored.metadata,
    )
