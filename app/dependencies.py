"""What routes get injected, as `Annotated` aliases: the settings and the services that the
lifespan builds. Tests swap them through `app.dependency_overrides`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.batching import Batcher
from app.config import Settings
from app.datasets import DatasetStore
from app.errors import NotReady, UnsupportedMediaType
from app.jobs import JobRunner
from app.registry import ModelRegistry
from app.sessions import SessionStore


@dataclass(frozen=True)
class Services:
    registry: ModelRegistry
    sessions: SessionStore
    runner: Batcher  # every model call goes through it
    jobs: JobRunner
    datasets: DatasetStore


# Dependencies that do no blocking work are `async def`: FastAPI runs a plain `def` one in its
# thread pool, a thread hop per dependency per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise NotReady("the service is starting or stopping")
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


async def get_registry(services: ServicesDep) -> ModelRegistry:
    return services.registry


async def get_sessions(services: ServicesDep) -> SessionStore:
    return services.sessions


async def get_runner(services: ServicesDep) -> Batcher:
    return services.runner


async def get_jobs(services: ServicesDep) -> JobRunner:
    return services.jobs


async def get_datasets(services: ServicesDep) -> DatasetStore:
    return services.datasets


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
RunnerDep = Annotated[Batcher, Depends(get_runner)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
DatasetsDep = Annotated[DatasetStore, Depends(get_datasets)]


def body_media_type(request: Request) -> str:
    """The declared type of the body, lower case, without parameters; "" when undeclared."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media_type: str) -> bool:
    """application/json or application/*+json."""
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def require_json(request: Request) -> None:
    """415 unless the body is declared JSON. Async, like every dependency here: FastAPI runs a
    plain `def` dependency in its thread pool, a thread hop per request."""
    media_type = body_media_type(request)
    if not is_json(media_type):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'no content type'}"
        )
