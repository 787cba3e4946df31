"""The Open Inference Protocol's gRPC messages <-> the REST form's request and tensors: a
`ModelInferRequest` is read into the same `Received` (the request's JSON header as the pydantic
`InferenceRequest`, and its tensors) that app/protocol/v2/tensors.py reads from a REST body, so
app/protocol/v2/lstm.py takes both alike; outputs leave as `raw_output_contents` (Triton's
answer, the cheaper one) or, with the request parameter `binary_data_output: false`, as typed
`contents`. Every size is checked against the message's own bytes before anything is allocated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.protocol.v2.proto import grpc_predict_v2_pb2 as pb
from app.protocol.v2.schemas import (
    MAX_DIMENSIONS,
    MAX_TENSORS,
    InferenceRequest,
    MetadataTensor,
)
from app.protocol.v2.tensors import DATATYPES, DTYPES, Output, Received, check_shape
from model.errors import InvalidInput

MAX_PARAMETERS = 8  # the request's known ones are 4; a tensor's, 1
# Each datatype's typed-contents field, as the protocol pairs them.
CONTENTS = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
}


def read_request(message: pb.ModelInferRequest) -> Received:
    """The request as the REST form's reader returns it; InvalidInput for anything wrong."""
    size = message.ByteSize()
    if len(message.inputs) > MAX_TENSORS or len(message.outputs) > MAX_TENSORS:
        raise InvalidInput(f"a request has at most {MAX_TENSORS} inputs and outputs")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(
            f"raw_input_contents holds {len(raw)} tensors for {len(message.inputs)} inputs; "
            "send every input raw, or none"
        )
    request = _header(message)
    tensors: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(message.inputs):
        if tensor.name in tensors:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        content = raw[index] if raw else None
        tensors[tensor.name] = _decode(tensor, content, size)
    return Received(request, tensors)


def _header(message: pb.ModelInferRequest) -> InferenceRequest:
    """What the REST form's JSON header would say: names, datatypes, shapes, parameters."""
    for tensor in message.inputs:
        if len(tensor.shape) > MAX_DIMENSIONS:
            raise InvalidInput(f"input {tensor.name!r}: at most {MAX_DIMENSIONS} dimensions")
    # Outputs raw unless asked otherwise: Triton's and KServe's clients read either.
    parameters = {"binary_data_output": True, **_parameters(message.parameters, "request")}
    header: dict[str, Any] = {
        "id": message.id or None,
        "model_name": message.model_name or None,
        "parameters": parameters,
        # Each input's data is read from the message below; [] stands for it here. Its
        # parameters are checked (KServe's client sends binary_data_size with raw contents)
        # and not needed: gRPC frames each raw tensor itself.
        "inputs": [
            {
                "name": t.name,
                "shape": list(t.shape),
                "datatype": t.datatype,
                "parameters": _parameters(t.parameters, f"input {t.name!r}") or None,
                "data": [],
            }
            for t in message.inputs
        ],
        "outputs": [
            {"name": o.name, "parameters": _parameters(o.parameters, f"output {o.name!r}") or None}
            for o in message.outputs
        ]
        or None,
    }
    try:
        return InferenceRequest.model_validate(header)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"{where}: {error['msg']}" if where else error["msg"]) from exc


def _parameters(parameters: Any, owner: str) -> dict[str, bool | int | str]:
    """A protobuf parameter map as plain values; the schema then refuses unknown names."""
    if len(parameters) > MAX_PARAMETERS:  # a hostile map is refused before it is copied
        raise InvalidInput(f"{owner} has more than {MAX_PARAMETERS} parameters")
    values: dict[str, bool | int | str] = {}
    for name, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is None:
            raise InvalidInput(f"{owner} parameter {name!r} has no value")
        values[name] = getattr(parameter, choice)
    return values


def _decode(tensor: Any, raw: bytes | None, message_bytes: int) -> np.ndarray:
    """One input's array in its shape, from its raw bytes or its typed contents."""
    name, shape = tensor.name, list(tensor.shape)
    dtype = DTYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidInput(
            f"input {name!r}: datatype {tensor.datatype!r} is not supported; "
            f"use one of {', '.join(DTYPES)}"
        )
    check_shape(name, shape, message_bytes)
    count = math.prod(shape)
    sent = [field.name for field, _ in tensor.contents.ListFields()]
    if raw is not None:
        if sent:
            raise InvalidInput(f"input {name!r} has both contents and raw_input_contents")
        if len(raw) != count * dtype.itemsize:
            raise InvalidInput(
                f"input {name!r}: raw_input_contents holds {len(raw)} bytes, but shape {shape} "
                f"of {tensor.datatype} takes {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    field = CONTENTS[tensor.datatype]
    if any(other != field for other in sent):
        raise InvalidInput(f"input {name!r}: {tensor.datatype} data goes in contents.{field}")
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise InvalidInput(
            f"input {name!r}: contents has {len(values)} values; shape {shape} takes {count}"
        )
    return np.array(values, dtype=dtype).reshape(shape)


def response_message(
    model_name: str, model_version: str, request_id: str, outputs: Sequence[Output]
) -> pb.ModelInferResponse:
    """The answer, its outputs all raw or all as typed contents (the protocol allows no mix).
    `request_id`: the request's id, echoed ("" when it had none)."""
    binary = {output.binary for output in outputs}
    if len(binary) > 1:
        raise InvalidInput("over gRPC, every output is raw or none is: drop binary_data")
    response = pb.ModelInferResponse(
        model_name=model_name, model_version=model_version, id=request_id
    )
    for output in outputs:
        array = np.ascontiguousarray(output.array)
        datatype = DATATYPES[array.dtype.newbyteorder("<")]
        tensor = response.outputs.add(name=output.name, datatype=datatype, shape=array.shape)
        if output.binary:
            little = array.astype(array.dtype.newbyteorder("<"), copy=False)
            response.raw_output_contents.append(little.tobytes())
        else:
            getattr(tensor.contents, CONTENTS[datatype]).extend(array.reshape(-1).tolist())
    return response


def tensors_metadata(
    tensors: list[MetadataTensor],
) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(
            name=tensor.name, datatype=tensor.datatype, shape=tensor.shape
        )
        for tensor in tensors
    ]
