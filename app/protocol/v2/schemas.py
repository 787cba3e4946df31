"""The Open Inference Protocol's JSON (KServe v2 / Triton REST), as pydantic models: the infer
request's JSON header, the infer response, and the health and metadata answers. Tensor data is
checked and converted by app/protocol/v2/tensors.py; what the tensors mean, by
app/protocol/v2/lstm.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, WithJsonSchema

from app.protocol.v1.schemas import FAIL_FAST, SESSION_ID_PATTERN, StrictModel

# The LSTM takes four tensors and gives four; a request never needs more, nor a tensor of more
# dimensions than these.
MAX_TENSORS = 8
MAX_DIMENSIONS = 8

# Flat or nested lists of numbers, row-major. Kept as parsed here: app/protocol/v2/tensors.py checks
# every value and the nesting, and names the input that is wrong.
TensorData = Annotated[
    list[Any],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"anyOf": [{"type": "number"}, {"type": "array"}]},
            "description": "the tensor's values, row-major: flat, or nested as its shape",
        }
    ),
]
SequenceNumber = Annotated[StrictInt, Field(ge=0, le=2**64 - 1)]
SequenceName = Annotated[str, Field(pattern=f"^$|{SESSION_ID_PATTERN}")]


class InferParameters(StrictModel):
    """The request parameters this server knows; any other is refused."""

    sequence_id: SequenceNumber | SequenceName = Field(
        default=0,
        description='the sequence (a server-kept session) this request belongs to; 0 or "": none',
    )
    sequence_start: bool = Field(
        default=False, description="begin the sequence afresh, from zero state or h0 and c0"
    )
    sequence_end: bool = Field(default=False, description="forget the sequence after this")
    binary_data_output: bool = Field(
        default=False, description="return every output as binary data unless it says otherwise"
    )


class InputParameters(StrictModel):
    binary_data_size: int | None = Field(
        default=None, ge=0, description="the input's bytes after the JSON header, in order"
    )


class OutputParameters(StrictModel):
    binary_data: bool | None = Field(
        default=None, description="this output as binary data; default: binary_data_output"
    )


class RequestInput(StrictModel):
    name: str = Field(examples=["inputs"])
    shape: Annotated[list[int], FAIL_FAST] = Field(max_length=MAX_DIMENSIONS, examples=[[1, 3, 1]])
    datatype: str = Field(examples=["FP32"])
    parameters: InputParameters | None = None
    data: TensorData | None = Field(default=None, description="absent for binary data")


class RequestOutput(StrictModel):
    name: str = Field(examples=["predictions"])
    parameters: OutputParameters | None = None


class InferenceRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": "inputs",
                            "shape": [1, 3, 1],
                            "datatype": "FP32",
                            "data": [80.0, 60.5, 40.1],
                        }
                    ],
                    "outputs": [{"name": "predictions"}, {"name": "hn"}],
                }
            ]
        }
    )

    id: str | None = Field(default=None, description="echoed in the response")
    model_name: str | None = Field(
        default=None, description="KServe's client sends it; it must name the path's model"
    )
    parameters: InferParameters | None = None
    inputs: Annotated[list[RequestInput], FAIL_FAST] = Field(min_length=1, max_length=MAX_TENSORS)
    outputs: Annotated[list[RequestOutput], FAIL_FAST] | None = Field(
        default=None,
        max_length=MAX_TENSORS,
        description="the outputs to return; default: predictions",
    )


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, int] | None = Field(
        default=None, description="binary_data_size: the output's bytes after the JSON header"
    )
    data: list[float] | None = Field(default=None, description="row-major; absent when binary")


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = Field(default=None, description="the request's id, when it had one")
    outputs: list[ResponseOutput]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a variable dimension")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="every stored version")
    platform: str = Field(description="the inference backend")
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ModelReady(BaseModel):
    name: str
    ready: bool


class V2Error(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"error": "unknown model 'x'"}]})

    error: str
