"""Request and response models of the HTTP API: the one place that defines its shapes.
Shapes follow PyTorch: B sequences of T_b steps of `input_size` numbers; states `h`, `c` are
`[num_layers][B][hidden_size]`. Sizes that depend on the model are checked against it later."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema

from model.config import (
    DEFAULT_DROPOUT,
    DEFAULT_HIDDEN_SIZE,
    DEFAULT_NUM_LAYERS,
    DROPOUT_BOUNDS,
    SIZE_BOUNDS,
    Cell,
    Nonlinearity,
)
from model.train_loop import DEFAULT_PARAMS, PARAM_BOUNDS

# The model computes in float32: larger magnitudes would silently become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# Strict: `true` and "1.5" are not numbers. NaN, Infinity and 1e999 (which Python's json
# reads as inf) are refused with the location of the offending number.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
FAIL_FAST = Field(fail_fast=True)
# Fail fast: a list stops at its first bad item, so a long run of bad values costs one error, not
# one error object per value (only the first error is ever answered).
Step = Annotated[
    list[Number], Field(min_length=1, description="input_size numbers", fail_fast=True)
]
StepSequence = Annotated[list[Step], Field(min_length=1, description="T_b steps", fail_fast=True)]
Tensor3 = Annotated[list[Annotated[list[Annotated[list[Number], FAIL_FAST]], FAIL_FAST]], FAIL_FAST]

SESSION_ID_PATTERN = r"^[A-Za-z0-9._~-]{1,128}$"
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN, examples=["sensor-42"])]
Version = Annotated[str, Field(min_length=1, max_length=64, examples=["1"])]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class State(StrictModel):
    """The recurrent state of every sequence in the batch: h and c for an LSTM, h alone for a
    GRU or an RNN (they have no cell state)."""

    h: Tensor3 = Field(description="hidden state, [num_layers][B][hidden_size]")
    c: Tensor3 | None = Field(
        default=None, description="an LSTM's cell state, [num_layers][B][hidden_size]"
    )


# The options of a predict request, shared by its JSON body and a binary body's query string.
ReturnState = Annotated[bool, Field(description="return each sequence's final h and c")]
ReturnSequence = Annotated[bool, Field(description="return the output at every step")]
SessionOption = Annotated[
    SessionId | None,
    Field(
        description="continue (or start) a server-kept session; cannot be combined "
        "with `state` once the session exists"
    ),
]
VersionOption = Annotated[Version | None, Field(description="default: the active version")]


class PredictOptions(StrictModel):
    """A predict request without its numbers: what a binary body's query string carries."""

    return_state: ReturnState = False
    return_sequence: ReturnSequence = False
    session_id: SessionOption = None
    model_version: VersionOption = None


class PredictRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"inputs": [[[0.1], [0.2], [0.3]], [[0.5], [0.4]]], "return_state": True},
                {"inputs": [[[0.3], [0.1]]], "session_id": "sensor-42"},
            ]
        }
    )

    inputs: Annotated[list[StepSequence], FAIL_FAST] = Field(
        min_length=1, description="B sequences; lengths may differ, each step has input_size"
    )
    state: State | None = Field(default=None, description="initial state; default zeros")
    return_state: ReturnState = False
    return_sequence: ReturnSequence = False
    session_id: SessionOption = None
    model_version: VersionOption = None


class ModelRef(BaseModel):
    name: str
    version: str


class SessionInfo(BaseModel):
    id: str
    version: str = Field(description="model version the session is pinned to")
    started: bool = Field(description="true when this request began the session")


class PredictResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": {"name": "lstm", "version": "1"},
                    "predictions": [[0.42], [0.37]],
                    "state": None,
                    "sequence": None,
                    "session": None,
                }
            ]
        }
    )

    model: ModelRef
    predictions: list[list[float]] = Field(description="[B][output_size], in user units")
    state: State | None = Field(description="final state when return_state was set")
    sequence: list[list[list[float]]] | None = Field(
        description="[B][T_b][output_size] when return_sequence was set, unpadded"
    )
    session: SessionInfo | None = Field(description="the session, when session_id was sent")


class ModelConfigInfo(BaseModel):
    input_size: int
    hidden_size: int
    num_layers: int
    output_size: int
    dropout: float
    cell: Cell
    nonlinearity: Nonlinearity


class ModelVersionInfo(BaseModel):
    version: str
    created_at: str
    sha256: str = Field(description="of the stored model.safetensors")
    active: bool
    source: dict[str, Any] = Field(description="provenance: where the checkpoint came from")
    metrics: dict[str, Any]


class ModelList(BaseModel):
    active: str | None
    versions: list[ModelVersionInfo]


class Scaling(BaseModel):
    mean: list[float]
    std: list[float]


class SeriesTaskInfo(BaseModel):
    """What a model trained on a series reads and predicts."""

    window: int
    horizon: int
    input_columns: list[str | int]
    target_columns: list[str | int]
    per_step: bool
    input_scaling: Scaling
    target_scaling: Scaling
    forecast: str | None = Field(description="why POST /v1/forecast cannot use it, or null")
    calibration: dict[str, Any] | None = Field(
        description="the conformal calibration of its intervals, without the residuals; null "
        "when it has none"
    )


class ModelDetail(ModelVersionInfo):
    config: ModelConfigInfo
    metadata: dict[str, Any] = Field(
        description="the checkpoint's header: training summary (a calibration without its "
        "residuals)"
    )
    task: SeriesTaskInfo | None = Field(
        default=None, description="what a model trained on a series reads and predicts"
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelRef


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str
    location: list[str | int] = Field(
        description="path to the offending part of the request", examples=[["inputs", 3, 7]]
    )


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_input",
                        "message": "each step needs 3 features, got 2",
                        "location": ["inputs", 3, 7],
                    }
                }
            ]
        }
    )

    error: ErrorBody


# --- training jobs, data sets, activation --------------------------------------------------

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JobId = Annotated[str, Field(pattern=JOB_ID_PATTERN, examples=["3f2b0c4e9d7a41c6b8e5a2f1d0c9b8a7"])]
DatasetId = Annotated[str, Field(pattern=JOB_ID_PATTERN)]
ActivationPolicy = Literal["never", "always", "if_better"]
JobStateName = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
MAX_HIDDEN_SIZE = 1024
MAX_LAYERS = 8

_NUMBERS = {"type": "array", "items": {"type": "number"}}
_NUMBERS_OR_ROWS = {
    "type": "array",
    "minItems": 1,
    "items": {"anyOf": [{"type": "number"}, _NUMBERS]},
}
# Shapes are checked by model/data.py, which names the offending element (data.inputs[3, 7, 0]);
# the schema documents them.
InputsArray = Annotated[
    list[Any],
    WithJsonSchema({"type": "array", "minItems": 1, "items": {"type": "array", "items": _NUMBERS}}),
    Field(description="(N, T, input_size): N sequences of T steps"),
]
TargetsArray = Annotated[
    list[Any],
    WithJsonSchema(_NUMBERS_OR_ROWS),
    Field(
        description="(N, output_size), or (N,) for one output, or (N, T, output_size) for a "
        "target at every step"
    ),
]
SeriesArray = Annotated[
    list[Any],
    WithJsonSchema(_NUMBERS_OR_ROWS),
    Field(description="(rows, features), or (rows,) for one feature; cut into sliding windows"),
]


class TrainData(StrictModel):
    """Exactly one of: `inputs` and `targets` ((N, T, O) targets: one at every step); a `series`
    with `window` (and `horizon`, `target_columns` as indices, `per_step`); or a `dataset_id`
    (an .npz data set as it is, a CSV data set with `window`, `horizon`, `columns`,
    `target_columns` as names and `per_step`, an .npy series like a `series`)."""

    inputs: InputsArray | None = None
    targets: TargetsArray | None = None
    series: SeriesArray | None = None
    dataset_id: DatasetId | None = None
    window: int | None = Field(default=None, ge=1, description="steps per input window")
    horizon: int | None = Field(default=None, ge=1, description="steps ahead; default 1")
    columns: Annotated[list[str], FAIL_FAST] | None = Field(
        default=None, description="CSV feature columns"
    )
    target_columns: Annotated[list[int | str], FAIL_FAST] | None = Field(
        default=None, description="series: column indices; CSV: names; default the last"
    )
    per_step: bool | None = Field(
        default=None,
        description="a series: a target at every step of each window (the value `horizon` "
        "steps after it) instead of after the last; default false",
    )


class ModelSpec(StrictModel):
    """The architecture; input and output sizes follow from the data."""

    # The model's own bounds, and the service's ceilings on the cost of one job.
    hidden_size: Annotated[int, SIZE_BOUNDS] = Field(
        default=DEFAULT_HIDDEN_SIZE, le=MAX_HIDDEN_SIZE
    )
    num_layers: Annotated[int, SIZE_BOUNDS] = Field(default=DEFAULT_NUM_LAYERS, le=MAX_LAYERS)
    dropout: Annotated[float, DROPOUT_BOUNDS] = Field(
        default=DEFAULT_DROPOUT, description="between stacked layers"
    )
    cell: Cell = Field(default="lstm", description="the recurrent cell: lstm, gru or rnn")
    nonlinearity: Nonlinearity = Field(
        default="tanh", description="the rnn cell's activation (tanh or relu)"
    )


class TrainingSpec(StrictModel):
    """Hyperparameters of the training engine (MSE, Adam)."""

    epochs: Annotated[int, PARAM_BOUNDS["epochs"]] = Field(
        default=DEFAULT_PARAMS.epochs, description="at most the server's max_epochs"
    )
    learning_rate: Annotated[float, PARAM_BOUNDS["learning_rate"]] = Field(
        default=DEFAULT_PARAMS.learning_rate, allow_inf_nan=False
    )
    batch_size: Annotated[int, PARAM_BOUNDS["batch_size"]] = DEFAULT_PARAMS.batch_size
    tbptt: Annotated[int, PARAM_BOUNDS["tbptt"]] | None = Field(
        default=DEFAULT_PARAMS.tbptt, description="truncated BPTT steps; null: full"
    )
    validation_split: Annotated[float, PARAM_BOUNDS["validation_split"]] = (
        DEFAULT_PARAMS.validation_split
    )
    validation_mode: Literal["random", "last"] | None = Field(
        default=None, description="default: last for series and CSV windows, else random"
    )
    early_stopping_patience: Annotated[int, PARAM_BOUNDS["early_stopping_patience"]] | None = Field(
        default=DEFAULT_PARAMS.early_stopping_patience, description="null: off"
    )
    clip_grad_norm: Annotated[float, PARAM_BOUNDS["clip_grad_norm"]] | None = Field(
        default=DEFAULT_PARAMS.clip_grad_norm, allow_inf_nan=False
    )
    seed: Annotated[int, PARAM_BOUNDS["seed"]] = DEFAULT_PARAMS.seed
    checkpoint_every: int = Field(
        default=1,
        ge=1,
        description="epochs between two resume points: an interrupted job goes on from its last",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="where the worker trains; auto: CUDA when the host has it"
    )
    processes: int = Field(
        default=1,
        ge=1,
        description="data-parallel ranks (a torchrun group of workers, each with its share of "
        "every batch); at most the server's max_training_processes",
    )


class TrainRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": {"series": [0.0, 0.5, 0.9, 1.0, 0.8, 0.3, -0.2, -0.7], "window": 3},
                    "model": {"hidden_size": 8},
                    "training": {"epochs": 5, "validation_split": 0.25},
                    "activate": "if_better",
                }
            ]
        }
    )

    data: TrainData
    model: ModelSpec | None = Field(
        default=None,
        description="default: hidden 32, 1 layer; "
        "with init_from: the base version's, and only that",
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    init_from: Version | None = Field(default=None, description="fine-tune this version")
    activate: ActivationPolicy = Field(
        default="never",
        description="never; always; if_better: when its validation MSE beats the active "
        "version's on the same validation data",
    )


class JobProgress(BaseModel):
    epoch: int = Field(description="last finished epoch, 1-based")
    epochs: int
    train_loss: float | None = Field(description="MSE in scaled units")
    val_loss: float | None = Field(description="MSE in scaled units; null without validation")
    best_epoch: int | None = None
    elapsed_s: float = Field(description="training time up to this epoch")
    eta_s: float | None = Field(
        default=None, description="estimated time left; early stopping may end sooner"
    )


class EpochRecord(BaseModel):
    epoch: int
    train_loss: float | None
    val_loss: float | None
    elapsed_s: float


class JobError(BaseModel):
    code: str = Field(examples=["training_failed"])
    message: str


class ActivationInfo(BaseModel):
    policy: ActivationPolicy
    state: Literal["pending", "activated", "not_activated"]
    reason: str | None = None
    compared_with: str | None = Field(default=None, description="the active version compared")
    val_mse: float | None = Field(default=None, description="new model, user units")
    active_val_mse: float | None = Field(default=None, description="compared version's")


class JobResume(BaseModel):
    after_epoch: int = Field(description="it went on from here (0: from the start)")
    at: str
    why: str = Field(description="what interrupted it, or that a request resumed it")


class JobSummary(BaseModel):
    id: str
    state: JobStateName
    created_at: str
    started_at: str | None
    finished_at: str | None
    elapsed_s: float | None = Field(description="since the job started (until it ended)")
    progress: JobProgress | None
    model_version: str | None = Field(description="the version the job stored")
    error: JobError | None = Field(description="why the job failed or was interrupted")
    cancel_requested: bool
    owner: str | None = Field(
        description='the server process that claimed it, "host:pid" (none while queued)'
    )
    activation: ActivationInfo | None = Field(description="the policy's outcome, once succeeded")
    resume_epoch: int | None = Field(
        description="the last epoch of its resume point: an interrupted job goes on after it"
    )
    resumes: list[JobResume] = Field(description="each time it was queued again, oldest first")
    request: dict[str, Any] = Field(
        description="model (with sizes), training, checkpointing, init_from, activate"
    )
    data: dict[str, Any] = Field(description="summary of the training data")
    result: dict[str, Any] | None = Field(description="metrics of the stored model")


class JobDetail(JobSummary):
    history: list[EpochRecord] = Field(description="every finished epoch's losses")


class JobList(BaseModel):
    jobs: list[JobSummary] = Field(description="newest first")
    next: str | None = Field(description="the next page's URL; null on the last page")


class DatasetInfo(BaseModel):
    id: str
    created_at: str
    format: Literal["npz", "csv", "npy"]
    bytes: int
    sha256: str
    summary: dict[str, Any] = Field(
        description="npz: n, steps, input_size, output_size; CSV: rows and numeric columns; "
        "npy: rows, features and dtype"
    )


class DatasetList(BaseModel):
    datasets: list[DatasetInfo] = Field(description="newest first")


class ActivateResponse(BaseModel):
    active: str
    previous: str | None = Field(description="the version that was active before")
