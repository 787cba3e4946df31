"""What routes get injected, as `Annotated` aliases: the settings, the services that the
lifespan builds, the metrics, the management token check. The only module that reads
`app.state` (app/api/predict_lane.py reads it through `inference_call_from`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers, State

from app.core.errors import NotReady, UnsupportedMediaType
from app.core.inference_keys import InferenceKeys, Owner
from app.core.settings import Settings
from app.core.token import TokenCheck
from app.observability.metrics import Metrics
from app.registry.models import ModelRegistry
from app.serving.services import Services
from app.serving.sessions import SessionStore
from app.training.datasets import DatasetStore
from app.training.runner import JobRunner

# auto_error=False: a missing or non-bearer header reaches `require_management` as None, so
# the answer is ours (401 in the one error shape); the scheme documents the route in OpenAPI.
_bearer = HTTPBearer(auto_error=False, description="the management token")
_inference_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="InferenceKey",
    description="an inference key, when the server has any (LSTM_SERVE_INFERENCE_TOKENS)",
)


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


async def get_services_if_running(request: Request) -> Services | None:
    """The services, or None outside the lifespan (metrics still answer then)."""
    services: Services | None = getattr(request.app.state, "services", None)
    return services


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_stopping(request: Request) -> Callable[[], bool]:
    """True once the server shuts down: long event streams end then."""
    stopping: Callable[[], bool] = request.app.state.stopping
    return stopping


async def require_management(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    check: TokenCheck | None = getattr(request.app.state, "token_check", None)
    if check is None:
        raise NotReady("the service is starting or stopping")
    check.check(None if credentials is None else credentials.credentials)


async def require_inference_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_inference_bearer)],
) -> Owner:
    """The request's owner when inference keys are configured; None when inference is open."""
    keys: InferenceKeys | None = getattr(request.app.state, "inference_keys", None)
    if keys is None:
        raise NotReady("the service is starting or stopping")
    return keys.owner(None if credentials is None else credentials.credentials)


@dataclass(frozen=True)
class InferenceCall:
    """What an inference route needs, resolved as one dependency: every dependency FastAPI
    resolves costs the request, and these run on the hottest routes."""

    owner: Owner
    services: Services
    settings: Settings


async def inference_call(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_inference_bearer)],
) -> InferenceCall:
    """The request's owner (see `require_inference_key`), the services and the settings."""
    return inference_call_from(
        request.app.state, None if credentials is None else credentials.credentials
    )


def inference_call_from(state: State, bearer: str | None) -> InferenceCall:
    """An inference call from the app's state and the request's bearer token (None: none sent)."""
    keys: InferenceKeys | None = getattr(state, "inference_keys", None)
    services: Services | None = getattr(state, "services", None)
    if keys is None or services is None:
        raise NotReady("the service is starting or stopping")
    return InferenceCall(keys.owner(bearer), services, state.settings)


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer` header, else None: as `HTTPBearer` with
    `auto_error=False` reads it, for code that answers without the framework."""
    authorization = headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
OptionalServicesDep = Annotated[Services | None, Depends(get_services_if_running)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
StoppingDep = Annotated[Callable[[], bool], Depends(get_stopping)]
ManagementAuth = Annotated[None, Depends(require_management)]
InferenceOwner = Annotated[Owner, Depends(require_inference_key)]
InferenceDep = Annotated[InferenceCall, Depends(inference_call)]


async def get_registry(services: ServicesDep) -> ModelRegistry:
    return services.registry


async def get_sessions(services: ServicesDep) -> SessionStore:
    return services.sessions


async def get_jobs(services: ServicesDep) -> JobRunner:
    return services.jobs


async def get_datasets(services: ServicesDep) -> DatasetStore:
    return services.datasets


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
DatasetsDep = Annotated[DatasetStore, Depends(get_datasets)]


def body_media_type(headers: Headers) -> str:
    """The declared type of the body, lower case, without parameters; "" when undeclared."""
    return headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media_type: str) -> bool:
    """application/json or application/*+json."""
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def require_json(request: Request) -> None:
    """415 unless the body is declared JSON."""
    media_type = body_media_type(request.headers)
    if not is_json(media_type):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'no content type'}"
        )
