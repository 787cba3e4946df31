"""The Open Inference Protocol through standard third-party clients, on a real server: Triton's
`tritonclient.http` and KServe's `InferenceRESTClient`, each agreeing with /v1/predict on the
same inputs, in JSON and in binary; a Triton sequence (sequence_id, start, end) equal to one /v1
request of the whole sequence; bad input answered in the protocol's error shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, InferResponse, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tests.support.servers import Server

pytestmark = pytest.mark.integration

RNG = np.random.default_rng(11)
BATCH = RNG.normal(0.0, 2.0, size=(3, 6, 3))  # (B, T, input_size) for the small model
ALL_OUTPUTS = ("predictions", "hn", "cn", "sequence")


def v1(client: httpx.Client, inputs: Any, **options: Any) -> dict[str, Any]:
    response = client.post("/v1/predict", json={"inputs": inputs, **options})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_agrees(got: dict[str, np.ndarray], want: dict[str, Any], atol: float = 1e-6) -> None:
    """`got`: protocol outputs by name; `want`: the /v1 answer for the same inputs."""
    np.testing.assert_allclose(got["predictions"], want["predictions"], rtol=0, atol=atol)
    if "hn" in got:
        np.testing.assert_allclose(got["hn"], want["state"]["h"], rtol=0, atol=atol)
        np.testing.assert_allclose(got["cn"], want["state"]["c"], rtol=0, atol=atol)
    if "sequence" in got:
        for row, steps in enumerate(want["sequence"]):
            np.testing.assert_allclose(got["sequence"][row, : len(steps)], steps, atol=atol)
            assert not got["sequence"][row, len(steps) :].any()  # zero past its length


@pytest.fixture(scope="module")
def triton_client(server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def triton_input(name: str, array: np.ndarray, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    return tensor.set_data_from_numpy(array, binary_data=binary)


def triton_infer(
    client: triton.InferenceServerClient,
    inputs: dict[str, np.ndarray],
    binary: bool = True,
    names: tuple[str, ...] = ALL_OUTPUTS,
    **options: Any,
) -> dict[str, np.ndarray]:
    result = client.infer(
        "lstm",
        [triton_input(name, array, binary) for name, array in inputs.items()],
        outputs=[triton.InferRequestedOutput(name, binary_data=binary) for name in names],
        **options,
    )
    return {name: result.as_numpy(name) for name in names}


def test_triton_health_and_metadata(triton_client: triton.InferenceServerClient) -> None:
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready("lstm") and triton_client.is_model_ready("lstm", "1")
    assert not triton_client.is_model_ready("other")
    server = triton_client.get_server_metadata()
    assert server["name"] == "lstm-serve"
    assert set(server["extensions"]) == {"binary_tensor_data", "sequence"}
    model = triton_client.get_model_metadata("lstm")
    assert model["versions"] == ["1"]
    assert model["inputs"][0] == {"name": "inputs", "datatype": "FP32", "shape": [-1, -1, 3]}
    assert {o["name"]: o["shape"] for o in model["outputs"]}["hn"] == [2, -1, 8]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_triton_infer_agrees_with_v1(
    triton_client: triton.InferenceServerClient,
    client: httpx.Client,
    dtype: type[np.floating[Any]],
    binary: bool,
) -> None:
    x = BATCH.astype(dtype)
    got = triton_infer(triton_client, {"inputs": x}, binary, request_id="r-1")
    assert got["predictions"].dtype == np.float64 and got["hn"].dtype == np.float32
    assert_agrees(got, v1(client, x.tolist(), return_state=True, return_sequence=True))


def test_triton_ragged_batch_and_initial_state_agree_with_v1(
    triton_client: triton.InferenceServerClient, client: httpx.Client
) -> None:
    x = BATCH.astype(np.float32)
    lengths = np.array([6, 2, 4], dtype=np.int32)
    h0 = RNG.normal(size=(2, 3, 8)).astype(np.float32)
    c0 = RNG.normal(size=(2, 3, 8)).astype(np.float32)
    tensors = {"inputs": x, "lengths": lengths, "h0": h0, "c0": c0}
    got = triton_infer(triton_client, tensors)
    ragged = [x[b, :length].tolist() for b, length in enumerate(lengths)]
    state = {"h": h0.tolist(), "c": c0.tolist()}
    assert_agrees(got, v1(client, ragged, state=state, return_state=True, return_sequence=True))


def test_triton_sequence_equals_one_v1_request(
    triton_client: triton.InferenceServerClient, client: httpx.Client
) -> None:
    x = BATCH.astype(np.float32)
    names = ("predictions", "hn", "cn")
    for a, b, start, end in [(0, 2, True, False), (2, 5, False, False), (5, 6, False, True)]:
        got = triton_infer(
            triton_client, {"inputs": x[:, a:b]}, names=names,
            sequence_id=4242, sequence_start=start, sequence_end=end,
        )  # fmt: skip
    assert_agrees(got, v1(client, x.tolist(), return_state=True), atol=1e-5)
    # The end forgot the sequence: continuing it without a start is refused.
    with pytest.raises(InferenceServerException) as refused:
        triton_infer(triton_client, {"inputs": x[:, :1]}, names=names, sequence_id=4242)
    assert refused.value.status() == "400" and "sequence_start" in refused.value.message()


@pytest.mark.parametrize(
    ("inputs", "model", "version", "status", "says"),
    [
        ({"inputs": BATCH.astype(np.int32)}, "lstm", "", "400", "must be FP32 or FP64"),
        ({"inputs": BATCH[:, :, :2].copy()}, "lstm", "", "400", "needs 3 features, got 2"),
        ({"inputs": BATCH, "x0": BATCH}, "lstm", "", "400", "unknown input 'x0'"),
        ({"inputs": BATCH}, "other", "", "404", "unknown model 'other'"),
        ({"inputs": BATCH}, "lstm", "7", "404", "no model version '7'"),
    ],
    ids=["datatype", "shape", "input-name", "model", "version"],
)
def test_triton_sees_protocol_errors(
    triton_client: triton.InferenceServerClient,
    inputs: dict[str, np.ndarray],
    model: str,
    version: str,
    status: str,
    says: str,
) -> None:
    tensors = [triton_input(name, array, binary=True) for name, array in inputs.items()]
    with pytest.raises(InferenceServerException) as error:
        triton_client.infer(model, tensors, model_version=version)
    assert error.value.status() == status and says in error.value.message()


async def kserve_infer(server: Server, x: np.ndarray, binary: bool) -> InferResponse:
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        assert await rest.is_server_live(server.url) and await rest.is_server_ready(server.url)
        assert await rest.is_model_ready(server.url, "lstm")
        tensor = InferInput("inputs", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        outputs = [RequestedOutput(name, {"binary_data": binary}) for name in ALL_OUTPUTS]
        request = InferRequest("lstm", [tensor], request_id="k-1", request_outputs=outputs)
        response: InferResponse = await rest.infer(server.url, request, model_name="lstm")
        return response
    finally:
        await rest.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_client_agrees_with_v1(server: Server, client: httpx.Client, binary: bool) -> None:
    x = BATCH.astype(np.float32)
    response = asyncio.run(kserve_infer(server, x, binary))
    assert response.id == "k-1" and response.model_name == "lstm"
    got = {output.name: output.as_numpy() for output in response.outputs}
    assert_agrees(got, v1(client, x.tolist(), return_state=True, return_sequence=True))


def test_kserve_client_sees_protocol_errors(server: Server) -> None:
    with pytest.raises(httpx.HTTPStatusError) as error:
        asyncio.run(kserve_infer(server, BATCH[:, :, :2].astype(np.float32), binary=False))
    assert error.value.response.status_code == 400
    assert error.value.response.json() == {
        "error": "each step needs 3 features, got 2 (at inputs[0][0])"
    }
