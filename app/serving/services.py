"""The running services of one server process, built by the lifespan (app/main.py) and handed to
the routes by `app/api/dependencies.py`."""

from __future__ import annotations

from dataclasses import dataclass

from app.registry.models import ModelRegistry
from app.serving.batcher import Batcher
from app.serving.checked_input import RequestLimits
from app.serving.sessions import SessionStore
from app.training.datasets import DatasetStore
from app.training.runner import JobRunner


@dataclass(frozen=True)
class Services:
    registry: ModelRegistry
    sessions: SessionStore
    batcher: Batcher  # every model call goes through it
    jobs: JobRunner
    datasets: DatasetStore
    limits: RequestLimits  # of one predict request
