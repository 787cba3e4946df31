"""tritonclient[grpc] against a server, in a process of its own: tritonclient and KServe register
the same protobuf names (`inference.*`) in protobuf's default pool, and one process cannot load
both (the test process loads KServe's). `python -m tests.support.triton_grpc ADDRESS` reads
{"inputs": [B][T][F], "chunks": [[start, stop], ...]} on stdin and writes what each call gave, as
JSON, on stdout: arrays as lists, errors as {"code": ..., "message": ...}."""

from __future__ import annotations

import json
import queue
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

OUTPUTS = ("predictions", "hn", "cn", "sequence")


def _input(name: str, array: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), "FP32")
    return tensor.set_data_from_numpy(array)  # tritonclient sends raw_input_contents


def _outputs(result: triton.InferResult, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: result.as_numpy(name).tolist() for name in names}


def _error(exc: InferenceServerException) -> dict[str, Any]:
    return {"code": exc.status(), "message": exc.message()}


def run(address: str, x: np.ndarray, chunks: list[list[int]]) -> dict[str, Any]:
    client = triton.InferenceServerClient(address)
    found: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("lstm"),
        "metadata": client.get_model_metadata("lstm", as_json=True),
        "server": client.get_server_metadata(as_json=True),
    }
    outputs = [triton.InferRequestedOutput(name) for name in OUTPUTS]
    whole = client.infer("lstm", [_input("inputs", x)], outputs=outputs, request_id="t-1")
    found["whole"] = {**_outputs(whole, OUTPUTS), "id": whole.get_response().id}
    found["sequence"] = []
    for index, (start, stop) in enumerate(chunks):
        result = client.infer(
            "lstm",
            [_input("inputs", x[:, start:stop])],
            sequence_id=41,
            sequence_start=index == 0,
            sequence_end=index == len(chunks) - 1,
        )
        found["sequence"].append(_outputs(result, ("predictions",)))
    found["stream"] = _stream(client, x, chunks)
    big = np.zeros((4, 50, 3000), np.float32)  # 2.4 MB, over the test server's body limit
    for name, call in {
        "unknown_model": lambda: client.infer("nope", [_input("inputs", x)]),
        "bad_tensor": lambda: client.infer("lstm", [_input("inputs", x[:, :, :2])]),
        "oversized": lambda: client.infer("lstm", [_input("inputs", big)]),
    }.items():
        try:
            call()
            found[name] = None
        except InferenceServerException as exc:
            found[name] = _error(exc)
    client.close()
    return found


def _stream(
    client: triton.InferenceServerClient, x: np.ndarray, chunks: list[list[int]]
) -> list[Any]:
    """The chunks as one sequence over ModelStreamInfer, then a bad request on the same stream,
    then one more good one: answers in order, the stream going on after the error."""
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for index, (start, stop) in enumerate(chunks):
        client.async_stream_infer(
            "lstm",
            [_input("inputs", x[:, start:stop])],
            sequence_id="stream-7",
            sequence_start=index == 0,
            sequence_end=index == len(chunks) - 1,
        )
    client.async_stream_infer("lstm", [_input("inputs", x[:, :, :2])])
    client.async_stream_infer("lstm", [_input("inputs", x)])
    got = []
    for _ in range(len(chunks) + 2):
        result, error = answers.get(timeout=30)
        got.append(_error(error) if error is not None else _outputs(result, ("predictions",)))
    client.stop_stream()
    return got


if __name__ == "__main__":
    request = json.load(sys.stdin)
    inputs = np.asarray(request["inputs"], dtype=np.float32)
    json.dump(run(sys.argv[1], inputs, request["chunks"]), sys.stdout)
