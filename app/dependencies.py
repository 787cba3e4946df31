"""What routes get injected, as `Annotated` aliases: the settings and the services that the
lifespan builds. Tests swap them through `app.dependency_overrides`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import NotReady, UnsupportedMediaType
from app.registry import ModelRegistry
from app.runner import ModelRunner
from app.sessions import SessionStore


@dataclass(frozen=True)
class Services:
    registry: ModelRegistry
    sessions: SessionStore
    runner: ModelRunner


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise NotReady("the service is starting or stopping")
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


def get_registry(services: ServicesDep) -> ModelRegistry:
    return services.registry


def get_sessions(services: ServicesDep) -> SessionStore:
    return services.sessions


def get_runner(services: ServicesDep) -> ModelRunner:
    return services.runner


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
RunnerDep = Annotated[ModelRunner, Depends(get_runner)]


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (application/json or application/*+json)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'no content type'}"
        )
