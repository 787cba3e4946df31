"""Service settings: `LSTM_SERVE_*` environment variables, overridden by `serve` flags."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["torch", "numpy"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LSTM_SERVE_", extra="forbid")

    # Checkpoint to import (once, by sha256) and activate; None: the store's active version,
    # or the shipped sunspot model on a new data directory.
    model: Path | None = None
    data_dir: Path = Path("var")  # model store: checkpoints and the SQLite database
    backend: Backend = "torch"
    model_name: str = Field(default="lstm", min_length=1)  # reported in every prediction
    model_cache_size: int = Field(default=4, ge=1)  # loaded non-active versions kept (LRU)
    inference_threads: int = Field(default=1, ge=1)  # model calls running at once

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    session_ttl_seconds: float = Field(default=600.0, gt=0)  # idle time before a session ends
    max_sessions: int = Field(default=1000, ge=1)  # beyond it the least recently used ends

    # Request limits; over any of them the answer is 413.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    max_batch_size: int = Field(default=256, ge=1)  # sequences per request
    max_sequence_steps: int = Field(default=10_000, ge=1)  # steps in one sequence
    max_total_steps: int = Field(default=100_000, ge=1)  # steps over all sequences of a request


@lru_cache
def get_settings() -> Settings:
    return Settings()
