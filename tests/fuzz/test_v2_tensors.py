"""Open Inference Protocol infer requests: tensors of any name, datatype, shape, data and
parameters, as JSON and with the binary tensor data extension (its header length honest or
not). Valid requests get a 200; anything else the protocol's {"error": str}, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.checkpoints import SMALL_CONFIG as MODEL
from tests.support.fuzzing import FUZZ, check_answer

pytestmark = pytest.mark.anyio

INFER = "/v2/models/lstm/infer"
HEADER = "Inference-Header-Content-Length"
FEATURES, LAYERS, HIDDEN = MODEL.input_size, MODEL.num_layers, MODEL.hidden_size

VISIBLE = st.characters(min_codepoint=33, max_codepoint=126)  # what a header value may hold
numbers = st.floats(-1e6, 1e6, allow_nan=False, width=32)
# JSON values of any kind; integers short of the digits Python refuses to print.
leaves = st.one_of(
    st.none(), st.booleans(), st.floats(), st.integers(-(2**100), 2**100), st.text(max_size=5)
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=24,
)  # fmt: skip
names = st.sampled_from(["inputs", "lengths", "h0", "c0"]) | st.text(max_size=4)
datatypes = st.sampled_from(["FP32", "FP64", "INT32", "INT64", "BYTES", "BOOL", "FP16"])
shapes = st.one_of(
    st.lists(st.integers(0, 5), min_size=1, max_size=3),
    st.lists(st.integers(-3, 2**70), max_size=10),
    json_values,
)
flat_numbers = st.lists(st.one_of(numbers, st.integers(-(2**70), 2**70)), max_size=60)
parameters = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-2, 2**40)}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=2),
)
tensors = st.fixed_dictionaries(
    {"name": names, "shape": shapes, "datatype": datatypes},
    optional={"data": st.one_of(flat_numbers, json_values), "parameters": parameters},
)
request_parameters = st.fixed_dictionaries(
    {},
    optional={
        "sequence_id": st.one_of(st.integers(-1, 2**65), st.text(max_size=8)),
        "sequence_start": json_values,
        "sequence_end": st.booleans(),
        "binary_data_output": st.booleans(),
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(tensors, max_size=4), json_values)},
    optional={
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["predictions", "hn", "cn", "sequence", "x"])},
                optional={"parameters": json_values},
            ),
            max_size=5,
        ),
        "parameters": request_parameters,
        "id": json_values,
        "model_name": st.sampled_from(["lstm", "other"]),
    },
)


def encode(value: Any) -> bytes:
    """Any JSON value, NaN and Infinity included, as Python's json writes them."""
    return json.dumps(value).encode()


@st.composite
def valid_request(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """A request the model answers, and its binary data: inputs [B, T, input_size], maybe
    lengths and state, maybe some as binary data; any outputs, JSON or binary."""
    batch, steps = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    tensors = [_tensor(draw, "inputs", [batch, steps, FEATURES], "FP32", "FP64")]
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
        tensors.append(_tensor(draw, "lengths", [batch], "INT32", "INT64", values=lengths))
    if draw(st.booleans()):
        tensors += [_tensor(draw, name, [LAYERS, batch, HIDDEN], "FP32", "FP64")
                    for name in ("h0", "c0")]  # fmt: skip
    binary = b"".join(tensor.pop("_bytes", b"") for tensor in tensors)
    request: dict[str, Any] = {"inputs": tensors}
    outputs = draw(st.lists(st.sampled_from(["predictions", "hn", "cn", "sequence"]),
                            unique=True, max_size=4))  # fmt: skip
    if outputs:
        request["outputs"] = [
            {"name": name, "parameters": {"binary_data": draw(st.booleans())}} for name in outputs
        ]
    return request, binary


def _tensor(
    draw: st.DrawFn, name: str, shape: list[int], *datatypes: str, values: Any = None
) -> dict[str, Any]:
    datatype = draw(st.sampled_from(datatypes))
    count = int(np.prod(shape))
    if values is None:
        values = draw(st.lists(numbers, min_size=count, max_size=count))
    if not draw(st.booleans()):
        return {"name": name, "shape": shape, "datatype": datatype, "data": values}
    dtype = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}[datatype]
    data = np.array(values, dtype=dtype).tobytes()
    return {"name": name, "shape": shape, "datatype": datatype,
            "parameters": {"binary_data_size": len(data)}, "_bytes": data}  # fmt: skip


async def infer(
    client: httpx.AsyncClient, header: bytes, binary: bytes = b"", length: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if binary or length is not None:
        headers = {HEADER: str(len(header)) if length is None else length}
    return await client.post(INFER, content=header + binary, headers=headers)


@FUZZ
@given(valid=valid_request())
async def test_a_valid_request_gets_200(
    fuzz_client: httpx.AsyncClient, valid: tuple[dict[str, Any], bytes]
) -> None:
    request, binary = valid
    check_answer(await infer(fuzz_client, encode(request), binary), valid=True)


@FUZZ
@given(body=st.one_of(requests.map(encode), json_values.map(encode), st.binary(max_size=200)))
async def test_any_json_request_gets_an_answer(fuzz_client: httpx.AsyncClient, body: bytes) -> None:
    check_answer(await infer(fuzz_client, body))


@FUZZ
@given(
    request=st.one_of(requests, valid_request().map(lambda valid: valid[0])),
    binary=st.binary(max_size=300),
    length=st.one_of(st.none(), st.integers(-5, 2**40).map(str), st.text(VISIBLE, max_size=6)),
)
async def test_any_binary_request_gets_an_answer(
    fuzz_client: httpx.AsyncClient, request: dict[str, Any], binary: bytes, length: str | None
) -> None:
    """Any JSON header, any bytes after it, and a header length that may lie."""
    check_answer(await infer(fuzz_client, encode(request), binary, length))
