"""Service settings: `LSTM_SERVE_*` environment variables, overridden by `serve` flags."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.backends import Backend

MIN_TOKEN_LENGTH = 16  # a guessable token is no protection
DATABASE_URL_PATTERN = r"^(sqlite:///.+|postgres(ql)?://.+)$"
SESSION_STORE_PATTERN = r"^(memory|local|rediss?://.+)$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LSTM_SERVE_", extra="forbid")

    # Checkpoint to import (once, by sha256) and activate; None: the store's active version,
    # or the shipped sunspot model on a new data directory.
    model: Path | None = None
    data_dir: Path = Path("var")  # model store: checkpoints and the SQLite database
    backend: Backend = "torch"
    model_name: str = Field(default="lstm", min_length=1)  # reported in every prediction
    model_cache_size: int = Field(default=4, ge=1)  # loaded non-active versions kept (LRU)
    inference_threads: int = Field(default=1, ge=1)  # model threads: model calls at once
    torch_threads: int = Field(default=1, ge=1)  # threads of one forward pass (torch, onnx)
    # Where the torch backend serves: cpu, cuda, or auto (CUDA when the host has it).
    device: Literal["cpu", "cuda", "auto"] = "cpu"

    # Dynamic batching: concurrent predict calls for one model version run as one forward pass.
    batching: bool = True  # off: one forward pass per request
    max_batch_delay_ms: float = Field(default=0.0, ge=0)  # longest a call waits for others
    max_batch_sequences: int = Field(default=1024, ge=1)  # sequences in one merged call
    max_batch_steps: int = Field(default=100_000, ge=1)  # sequences x longest one, merged
    # Sequences waiting for the model at once; beyond it a predict call is 503 + Retry-After.
    max_queued_sequences: int = Field(default=8192, ge=1)

    # Scale-out (docs/scaling.md). `workers`: server processes on this host, each with its own
    # SO_REUSEPORT socket on `port`; the kernel spreads connections over them.
    workers: int = Field(default=1, ge=1, le=64)
    # Where models, jobs, data sets, the active pointer and their files live. None: SQLite in
    # the data directory. postgresql://...: one database shared by replicas on many hosts,
    # each keeping a local cache of the files in its data directory. Never logged.
    database_url: str | None = Field(default=None, repr=False, pattern=DATABASE_URL_PATTERN)
    # Streaming sessions' states: "memory" (this process alone), "local" (the workers of one
    # host, through the data directory) or redis://... (replicas on many hosts). Never logged.
    session_store: str = Field(default="local", repr=False, pattern=SESSION_STORE_PATTERN)
    # Names this process in metrics, logs and job ownership; default: the host name (with the
    # worker's number under --workers).
    replica_name: str | None = Field(default=None, min_length=1, max_length=128)
    # A running job's owner renews its lease this often (a third of it); a job whose lease ran
    # out (its replica died) is marked interrupted by whichever replica notices first.
    job_lease_seconds: float = Field(default=15.0, ge=1)
    # An interrupted job (its process or worker died, the server stopped) is queued again and
    # goes on from its last resume point, up to 3 times; off: it stays interrupted.
    resume_interrupted: bool = True

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The Open Inference Protocol over gRPC on this port of `host`, beside HTTP; 0: off.
    grpc_port: int = Field(default=0, ge=0, le=65535)
    # Backpressure on the connection: concurrent connections (more: 503), and how long a
    # client may take to send a request's headers, then each chunk of its body (slowloris).
    max_connections: int = Field(default=512, ge=1)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    max_event_streams: int = Field(default=64, ge=1)  # open job event streams; more: 503

    # Operations (app/observability/logs.py, app/cli/serve.py). auto: JSON lines when stderr
    # is not a terminal.
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # After SIGTERM, requests in flight get this long to finish; training workers then get
    # app.training.runner.STOP_TIMEOUT_S to stop, so the process is gone within the sum (plus
    # a margin).
    shutdown_timeout_seconds: int = Field(default=30, ge=1)

    session_ttl_seconds: float = Field(default=600.0, gt=0)  # idle time before a session ends
    max_sessions: int = Field(default=1000, ge=1)  # beyond it the least recently used ends
    # The states all sessions hold, in bytes; beyond it the least recently used end, and a
    # session that alone would not fit is refused (429).
    max_session_bytes: int = Field(default=256 * 1024 * 1024, ge=1)

    # Request limits; over any of them the answer is 413.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    max_batch_size: int = Field(default=256, ge=1)  # sequences per request
    max_sequence_steps: int = Field(default=10_000, ge=1)  # steps in one sequence
    max_total_steps: int = Field(default=100_000, ge=1)  # steps over all sequences of a request
    # Steps one forecast rolls forward (422 beyond): each is a model call on a window.
    max_forecast_horizon: int = Field(default=512, ge=1)

    # Management routes (training, cancel, activation, data set upload) need this bearer token.
    # None: read it from api_token_file; neither: generate one at start-up into
    # <data_dir>/api-token (mode 0600). no_auth turns the check off, explicitly.
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    no_auth: bool = False
    # Inference keys: when any is set, predict, sessions and v2 infer need one of them as a
    # bearer token, and a session belongs to the key that started it. None: inference is open.
    # The file holds one key per line.
    inference_tokens: list[SecretStr] | None = None
    inference_tokens_file: Path | None = None

    # Training jobs: each runs in its own worker process.
    max_concurrent_jobs: int = Field(default=1, ge=1)  # jobs training at once
    max_queued_jobs: int = Field(default=16, ge=0)  # waiting beyond those; more: 429
    training_threads: int = Field(default=1, ge=1)  # torch/BLAS threads of a worker
    training_niceness: int = Field(default=10, ge=0, le=19)  # predictions come first
    # Linux: workers under SCHED_IDLE, training only on CPU time that serving leaves.
    training_sched_idle: bool = True
    max_training_processes: int = Field(default=2, ge=1)  # ranks of one data-parallel job
    training_memory_bytes: int | None = Field(default=None, ge=1 << 26)  # a worker's heap
    training_data_workers: int = Field(default=0, ge=0, le=16)  # reading a series on disk
    max_epochs: int = Field(default=1000, ge=1)  # per job; more: 422
    # Data of one job (inline or from a data set); over any of them: 413.
    max_training_samples: int = Field(default=100_000, ge=1)
    max_training_values: int = Field(default=10_000_000, ge=1)  # numbers in inputs and targets
    max_dataset_bytes: int = Field(default=64 * 1024 * 1024, ge=1)  # one uploaded file
    max_datasets: int = Field(default=100, ge=1)  # data sets kept; more: 409 until one is deleted
    max_datasets_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)  # all of them together
    # The model a job may ask for; more: 413, before the job exists.
    max_model_parameters: int = Field(default=10_000_000, ge=1)
    max_model_input_size: int = Field(default=1024, ge=1)  # features per step
    max_model_output_size: int = Field(default=1024, ge=1)  # targets per sample

    @field_validator("api_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"api_token must have at least {MIN_TOKEN_LENGTH} characters")
        return token

    @field_validator("inference_tokens")
    @classmethod
    def _keys_long_enough(cls, keys: list[SecretStr] | None) -> list[SecretStr] | None:
        for key in keys or []:
            if len(key.get_secret_value()) < MIN_TOKEN_LENGTH:
                raise ValueError(f"each inference token needs {MIN_TOKEN_LENGTH} characters")
        return keys


@lru_cache
def get_settings() -> Settings:
    return Settings()
