"""The Open Inference Protocol over gRPC against a real `lstm-serve serve --grpc-port`: the standard
clients (tritonclient[grpc] in a process of its own, see tests/support/triton_grpc.py; KServe's
InferenceGRPCClient; grpcio with the committed stubs) agree with /v1 within 1e-6; sequences,
streaming, health, status codes, limits, inference keys, metrics, access lines and shutdown."""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput

from app.protocol.v2.proto import grpc_predict_v2_pb2 as pb
from app.protocol.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.support.bad_requests import LIMITS
from tests.support.cost import peak_rss_mb
from tests.support.servers import Server, clean_env, free_port, run_serve, running_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(5)
BATCH = RNG.normal(0.0, 2.0, size=(2, 9, 3)).astype(np.float32)  # (B, T, input_size)
CHUNKS = [[0, 3], [3, 7], [7, 9]]  # start, middle, end of one sequence
KEY = "grpc-test-inference-key-0123"


class GrpcServer:
    def __init__(self, server: Server, port: int) -> None:
        self.server = server
        self.address = f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[GrpcServer]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("grpc") / "var"
    env = clean_env(**LIMITS, log_format="json")
    args = ("--model", str(checkpoint), "--grpc-port", str(port))
    with running_server(data_dir, *args, env=env) as server:
        yield GrpcServer(server, port)


@pytest.fixture(scope="module")
def stub(served: GrpcServer) -> Iterator[Any]:
    with grpc.insecure_channel(served.address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def v1(served: GrpcServer) -> dict[str, Any]:
    with served.server.client() as client:
        response = client.post("/v1/predict", json={"inputs": BATCH.tolist(), "return_state": True})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture(scope="module")
def triton(served: GrpcServer) -> dict[str, Any]:
    """Every tritonclient call's result, from one client process."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.triton_grpc", served.address],
        input=json.dumps({"inputs": BATCH.tolist(), "chunks": CHUNKS}),
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def close(got: Any, want: Any) -> None:
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-6)


def test_triton_health_and_metadata(triton: dict[str, Any]) -> None:
    assert triton["live"] and triton["ready"] and triton["model_ready"]
    assert triton["server"]["name"] == "lstm-serve"
    assert "sequence" in triton["server"]["extensions"]
    inputs = {tensor["name"]: tensor for tensor in triton["metadata"]["inputs"]}
    assert list(inputs) == ["inputs", "lengths", "h0", "c0"]
    assert inputs["inputs"]["shape"] == ["-1", "-1", "3"]  # protobuf's JSON writes int64 as text


def test_triton_raw_infer_agrees_with_v1(triton: dict[str, Any], v1: dict[str, Any]) -> None:
    close(triton["whole"]["predictions"], v1["predictions"])
    close(triton["whole"]["hn"], v1["state"]["h"])
    close(triton["whole"]["cn"], v1["state"]["c"])
    close(np.asarray(triton["whole"]["sequence"])[:, -1], v1["predictions"])
    assert triton["whole"]["id"] == "t-1"


def test_triton_sequence_in_three_calls_equals_the_whole(
    triton: dict[str, Any], v1: dict[str, Any]
) -> None:
    close(triton["sequence"][-1]["predictions"], v1["predictions"])


def test_triton_stream_keeps_order_and_goes_on_after_an_error(
    triton: dict[str, Any], v1: dict[str, Any]
) -> None:
    *sequence, error, after = triton["stream"]
    close(sequence[-1]["predictions"], v1["predictions"])
    assert error["message"] == "each step needs 3 features, got 2 (at inputs[0][0])"
    close(after["predictions"], v1["predictions"])


def test_triton_sees_status_codes(triton: dict[str, Any]) -> None:
    assert triton["unknown_model"] == {
        "code": "StatusCode.NOT_FOUND",
        "message": "unknown model 'nope'; this server serves 'lstm'",
    }
    assert triton["bad_tensor"] == {
        "code": "StatusCode.INVALID_ARGUMENT",
        "message": "each step needs 3 features, got 2 (at inputs[0][0])",
    }
    assert triton["oversized"]["code"] == "StatusCode.RESOURCE_EXHAUSTED"


async def kserve_infer(address: str, binary: bool) -> dict[str, np.ndarray]:
    async with InferenceGRPCClient(address, timeout=30) as client:
        assert await client.is_server_live() and await client.is_server_ready()
        assert await client.is_model_ready("lstm")
        tensor = InferInput("inputs", list(BATCH.shape), "FP32")
        tensor.set_data_from_numpy(BATCH, binary_data=binary)
        outputs = [RequestedOutput("predictions"), RequestedOutput("hn")]
        request = InferRequest("lstm", [tensor], request_id="k-1", request_outputs=outputs)
        response = await client.infer(request)
        assert response.id == "k-1" and response.model_name == "lstm"
        return {output.name: output.as_numpy() for output in response.outputs}


@pytest.mark.parametrize("binary", [False, True], ids=["typed", "raw"])
def test_kserve_client_agrees_with_v1(served: GrpcServer, v1: dict[str, Any], binary: bool) -> None:
    got = asyncio.run(kserve_infer(served.address, binary))
    close(got["predictions"], v1["predictions"])
    close(got["hn"], v1["state"]["h"])


def request(x: np.ndarray, raw: bool, **fields: Any) -> Any:
    tensor = pb.ModelInferRequest.InferInputTensor(name="inputs", datatype="FP32", shape=x.shape)
    message = pb.ModelInferRequest(model_name="lstm", inputs=[tensor], **fields)
    if raw:
        message.raw_input_contents.append(x.tobytes())
    else:
        tensor = message.inputs[0]
        tensor.contents.fp32_contents.extend(x.reshape(-1).tolist())
    return message


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
def test_grpcio_stubs_typed_and_raw_contents_agree(
    stub: Any, v1: dict[str, Any], raw: bool
) -> None:
    message = request(BATCH, raw)
    message.parameters["binary_data_output"].bool_param = raw
    response = stub.ModelInfer(message)
    assert response.outputs[0].name == "predictions" and response.outputs[0].datatype == "FP64"
    if raw:
        got = np.frombuffer(response.raw_output_contents[0], "<f8")
    else:
        got = np.asarray(response.outputs[0].contents.fp64_contents)
    close(got.reshape(2, -1), v1["predictions"])


@pytest.mark.parametrize(
    ("message", "code", "says"),
    [
        (request(BATCH[:, :, :2], raw=True), "INVALID_ARGUMENT", "each step needs 3 features"),
        (request(np.zeros((9, 2, 3), np.float32), raw=True), "RESOURCE_EXHAUSTED", "sequences"),
        (
            pb.ModelInferRequest(
                model_name="lstm",
                inputs=[{"name": "inputs", "datatype": "FP32", "shape": [2**40, 2**40, 3]}],
                raw_input_contents=[b"\0" * 12],
            ),
            "INVALID_ARGUMENT",
            "holds more values than the body's",
        ),
        (
            pb.ModelInferRequest(
                model_name="lstm", inputs=[{"name": "inputs", "datatype": "FP32", "shape": [1]}]
            ),
            "INVALID_ARGUMENT",
            "contents has 0 values",
        ),
        (request(BATCH, raw=True, model_version="99"), "NOT_FOUND", "no model version '99'"),
    ],
    ids=["bad-tensor", "over-batch-limit", "hostile-shape", "no-data", "unknown-version"],
)
def test_errors_have_their_status_codes(stub: Any, message: Any, code: str, says: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(message)
    assert error.value.code().name == code
    assert says in error.value.details()


def test_a_message_over_the_body_limit_is_refused_before_it_is_read(stub: Any) -> None:
    big = np.zeros((1, 50, (LIMITS["max_body_bytes"] // 4) // 50 + 1), np.float32)
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(request(big, raw=True))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_health_service_serves(served: GrpcServer) -> None:
    with grpc.insecure_channel(served.address) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        for service in ("", "inference.GRPCInferenceService"):
            answer = check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_calls_are_counted_and_logged(served: GrpcServer, stub: Any) -> None:
    stub.ServerLive(pb.ServerLiveRequest(), metadata=[("x-request-id", "grpc-probe-1")])
    metrics = httpx.get(f"{served.server.url}/metrics").text
    series = (
        'lstm_serve_requests_total{method="GRPC",'
        'route="grpc:/inference.GRPCInferenceService/ServerLive",status="0"}'
    )
    assert series in metrics
    lines = [json.loads(line) for line in served.server.log.read_text().splitlines()]
    probe = [line for line in lines if line.get("request_id") == "grpc-probe-1"]
    assert probe and probe[0]["route"] == "grpc:/inference.GRPCInferenceService/ServerLive"


def test_inference_keys_guard_infer(tmp_path: Path, checkpoint: Path) -> None:
    port = free_port()
    env = clean_env(inference_tokens=json.dumps([KEY]))
    args = ("--model", str(checkpoint), "--grpc-port", str(port))
    with (
        running_server(tmp_path / "var", *args, env=env),
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        infer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        message = request(BATCH, raw=True)
        for metadata, code in [
            ((), grpc.StatusCode.UNAUTHENTICATED),
            (
                (("authorization", "Bearer not-the-key-at-all-0000"),),
                grpc.StatusCode.PERMISSION_DENIED,
            ),
        ]:
            with pytest.raises(grpc.RpcError) as error:
                infer(message, metadata=metadata)
            assert error.value.code() == code
        answer = infer(message, metadata=[("authorization", f"Bearer {KEY}")])
        assert answer.model_name == "lstm"


def test_shutdown_lets_a_stream_in_flight_finish(tmp_path: Path, checkpoint: Path) -> None:
    port = free_port()
    args = ("--model", str(checkpoint), "--grpc-port", str(port))
    requests: queue.Queue[Any] = queue.Queue()
    with (
        running_server(tmp_path / "var", *args, env=clean_env()) as server,
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stream = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(
            iter(requests.get, None)  # None ends the stream
        )
        requests.put(request(BATCH, raw=True))
        assert not next(stream).error_message
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # HTTP has drained; gRPC waits for its call in flight
        assert server.process.poll() is None
        requests.put(request(BATCH, raw=True))
        assert next(stream).infer_response.model_name == "lstm"
        requests.put(None)
        assert server.process.wait(timeout=20) == 0


def hostile_messages() -> dict[str, Any]:
    """Messages under the body limit that claim much more than they hold."""

    def inputs(shape: list[int], count: int = 1) -> list[dict[str, Any]]:
        return [{"name": "inputs", "datatype": "FP32", "shape": shape}] * count

    parameters = pb.ModelInferRequest(model_name="lstm", inputs=inputs([1, 1, 3]))
    for index in range(3000):
        parameters.parameters[f"p{index}"].bool_param = True
    return {
        "huge-shape": pb.ModelInferRequest(
            model_name="lstm", inputs=inputs([2**62, 2**62, 3]), raw_input_contents=[b"\0" * 12]
        ),
        "many-dimensions": pb.ModelInferRequest(model_name="lstm", inputs=inputs([1] * 20_000)),
        "many-inputs": pb.ModelInferRequest(model_name="lstm", inputs=inputs([1, 1, 3], 2500)),
        "many-parameters": parameters,
    }


def test_hostile_messages_cost_bounded_time_and_memory(served: GrpcServer, stub: Any) -> None:
    pid = served.server.process.pid
    before = peak_rss_mb(pid)
    for name, message in hostile_messages().items():
        assert message.ByteSize() < LIMITS["max_body_bytes"], name
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(message)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert time.monotonic() - started < 1.0, name
    assert peak_rss_mb(pid) - before < 20


def test_a_taken_grpc_port_stops_start_up_with_one_line(tmp_path: Path, checkpoint: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(
            "--model", str(checkpoint), "--data-dir", str(tmp_path / "var"),
            "--grpc-port", str(port), env=clean_env(),
        )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]  # after the lifespan's log lines
    assert last.startswith(f"lstm-serve: error: cannot listen for gRPC on 127.0.0.1:{port}")
