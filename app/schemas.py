"""Request and response models of the HTTP API: the one place that defines its shapes.
Shapes follow PyTorch: B sequences of T_b steps of `input_size` numbers; states `h`, `c` are
`[num_layers][B][hidden_size]`. Sizes that depend on the model are checked against it later."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict

# The model computes in float32: larger magnitudes would silently become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# Strict: `true` and "1.5" are not numbers. NaN, Infinity and 1e999 (which Python's json
# reads as inf) are refused with the location of the offending number.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
Step = Annotated[list[Number], Field(min_length=1, description="input_size numbers")]
StepSequence = Annotated[list[Step], Field(min_length=1, description="T_b steps")]
Tensor3 = list[list[list[Number]]]

SESSION_ID_PATTERN = r"^[A-Za-z0-9._~-]{1,128}$"
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN, examples=["sensor-42"])]
Version = Annotated[str, Field(min_length=1, max_length=64, examples=["1"])]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class State(StrictModel):
    """LSTM state of every sequence in the batch."""

    h: Tensor3 = Field(description="hidden state, [num_layers][B][hidden_size]")
    c: Tensor3 = Field(description="cell state, [num_layers][B][hidden_size]")


class PredictRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"inputs": [[[0.1], [0.2], [0.3]], [[0.5], [0.4]]], "return_state": True},
                {"inputs": [[[0.3], [0.1]]], "session_id": "sensor-42"},
            ]
        }
    )

    inputs: list[StepSequence] = Field(
        min_length=1, description="B sequences; lengths may differ, each step has input_size"
    )
    state: State | None = Field(default=None, description="initial state; default zeros")
    return_state: bool = Field(default=False, description="return each sequence's final h and c")
    return_sequence: bool = Field(default=False, description="return the output at every step")
    session_id: SessionId | None = Field(
        default=None,
        description="continue (or start) a server-kept session; cannot be combined "
        "with `state` once the session exists",
    )
    model_version: Version | None = Field(default=None, description="default: the active version")


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


class ModelDetail(ModelVersionInfo):
    config: ModelConfigInfo
    metadata: dict[str, Any] = Field(description="the checkpoint's header: training summary")


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
