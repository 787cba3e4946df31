"""gRPC messages <-> the REST form's request and tensors (app/protocol/v2/grpc.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.protocol.v2.grpc import read_request, response_message
from app.protocol.v2.proto import grpc_predict_v2_pb2 as pb
from app.protocol.v2.tensors import Output
from model.errors import InvalidInput

X = np.arange(12, dtype=np.float32).reshape(2, 3, 2)  # (B, T, F)


def message(raw: bool = True, **fields: Any) -> Any:
    tensor = pb.ModelInferRequest.InferInputTensor(name="inputs", datatype="FP32", shape=X.shape)
    request = pb.ModelInferRequest(model_name="lstm", inputs=[tensor], **fields)
    if raw:
        request.raw_input_contents.append(X.tobytes())
    else:
        request.inputs[0].contents.fp32_contents.extend(X.reshape(-1).tolist())
    return request


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
def test_raw_and_typed_contents_read_alike(raw: bool) -> None:
    request, tensors = read_request(message(raw, id="r-1"))
    np.testing.assert_array_equal(tensors["inputs"], X)
    assert tensors["inputs"].dtype == np.float32
    assert request.id == "r-1" and request.inputs[0].name == "inputs"


def test_sequence_parameters_and_output_choice_reach_the_request() -> None:
    sent = message()
    sent.parameters["sequence_id"].int64_param = 7
    sent.parameters["sequence_start"].bool_param = True
    sent.outputs.add(name="hn")
    request, _ = read_request(sent)
    assert request.parameters is not None
    assert (request.parameters.sequence_id, request.parameters.sequence_start) == (7, True)
    assert request.parameters.binary_data_output  # raw answers unless asked otherwise
    assert [output.name for output in request.outputs or []] == ["hn"]


def typed_int64() -> Any:
    sent = message()
    sent.raw_input_contents.pop()
    sent.inputs[0].contents.int64_contents.extend(range(12))
    return sent


def bad(change: Any) -> Any:
    sent = message()
    change(sent)
    return sent


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (bad(lambda m: m.raw_input_contents.append(b"")), "holds 2 tensors for 1 inputs"),
        (bad(lambda m: m.raw_input_contents.__setitem__(0, b"\0" * 5)), "holds 5 bytes"),
        (
            bad(lambda m: m.inputs[0].contents.fp32_contents.append(1.0)),
            "both contents and raw_input_contents",
        ),
        (typed_int64(), "FP32 data goes in contents.fp32_contents"),
        (bad(lambda m: m.inputs[0].shape.extend([1] * 7)), "at most 8 dimensions"),
        (bad(lambda m: m.inputs[0].__setattr__("datatype", "BYTES")), "'BYTES' is not supported"),
        (bad(lambda m: m.parameters["priority"].int64_param), "has no value"),
        (bad(lambda m: m.parameters["priority"].__setattr__("int64_param", 1)), "priority"),
        (bad(lambda m: m.MergeFrom(message())), "given twice"),
        (
            bad(lambda m: [m.parameters[f"p{i}"].bool_param for i in range(9)]),
            "more than 8 parameters",
        ),
        (bad(lambda m: [m.inputs.add(name=f"x{i}") for i in range(8)]), "at most 8 inputs"),
    ],
    ids=[
        "raw-count", "raw-size", "raw-and-typed", "wrong-contents", "dimensions", "datatype",
        "empty-parameter", "unknown-parameter", "twice", "many-parameters", "too-many",
    ],
)  # fmt: skip
def test_bad_messages_name_what_is_wrong(sent: Any, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        read_request(sent)


def test_a_hostile_shape_is_refused_by_the_message_size_before_any_allocation() -> None:
    sent = message()
    del sent.inputs[0].shape[:]
    sent.inputs[0].shape.extend([2**62, 2**62, 2])
    with pytest.raises(InvalidInput, match="holds more values than the body's"):
        read_request(sent)


def test_outputs_leave_raw_or_typed_and_read_back() -> None:
    predictions = np.array([[1.5], [-2.25]])
    hn = np.ones((1, 2, 3), np.float32)
    raw = response_message("lstm", "3", "r", [Output("predictions", predictions, True)])
    assert raw.model_version == "3" and raw.id == "r"
    assert raw.outputs[0].datatype == "FP64" and list(raw.outputs[0].shape) == [2, 1]
    np.testing.assert_array_equal(np.frombuffer(raw.raw_output_contents[0], "<f8"), [1.5, -2.25])
    typed = response_message("lstm", "3", "", [Output("hn", hn, False)])
    assert typed.outputs[0].datatype == "FP32" and not typed.raw_output_contents
    assert list(typed.outputs[0].contents.fp32_contents) == [1.0] * 6


def test_outputs_are_all_raw_or_all_typed() -> None:
    mixed = [Output("predictions", np.zeros((1, 1)), True), Output("hn", np.zeros(1), False)]
    with pytest.raises(InvalidInput, match="every output is raw or none is"):
        response_message("lstm", "1", "", mixed)
