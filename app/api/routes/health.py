"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.dependencies import RegistryDep, SettingsDep
from app.api.errors import responses
from app.core.errors import NotReady
from app.protocol.v1.schemas import Health, ModelRef, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: 200 while the process serves."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses=responses(503))
async def readyz(registry: RegistryDep, settings: SettingsDep) -> Readiness:
    """Readiness: 200 once a model is loaded, else 503."""
    active = registry.active
    if active is None:
        raise NotReady("no model is loaded yet")
    return Readiness(model=ModelRef(name=settings.model_name, version=active.version))
