"""The Open Inference Protocol in process: metadata and health, infer equal to /v1/predict in
JSON (flat and nested data, FP32 and FP64) and in binary (the extension's bytes read by hand),
ragged batches through `lengths`, initial states, and sequences mapped onto sessions."""

from __future__ import annotations

import struct
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from app.api.routes import v2 as v2_routes
from app.serving.services import Services

pytestmark = pytest.mark.anyio

INFER = "/v2/models/lstm/infer"
HEADER = "Inference-Header-Content-Length"
RNG = np.random.default_rng(21)
X = RNG.normal(0.0, 2.0, size=(2, 5, 3))  # (B, T, input_size) for the small model


def tensor(
    name: str, array: np.ndarray, datatype: str = "FP64", nested: bool = False
) -> dict[str, Any]:
    data = array.tolist() if nested else array.reshape(-1).tolist()
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


async def infer(
    client: httpx.AsyncClient, body: dict[str, Any], path: str = INFER
) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


def by_name(answer: dict[str, Any]) -> dict[str, np.ndarray]:
    return {o["name"]: np.reshape(o["data"], o["shape"]) for o in answer["outputs"]}


async def v1(client: httpx.AsyncClient, inputs: Any, **options: Any) -> dict[str, Any]:
    response = await client.post("/v1/predict", json={"inputs": inputs, **options})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def outputs(*names: str, **parameters: Any) -> list[dict[str, Any]]:
    return [{"name": name, **({"parameters": parameters} if parameters else {})} for name in names]


async def test_server_metadata_and_health(client: httpx.AsyncClient) -> None:
    server = (await client.get("/v2")).json()
    assert server["name"] == "lstm-serve" and server["version"] == version("lstm-serve")
    assert server["extensions"] == ["binary_tensor_data", "sequence"]
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    for path in ("/v2/models/lstm/ready", "/v2/models/lstm/versions/1/ready"):
        assert (await client.get(path)).json() == {"name": "lstm", "ready": True}


async def test_model_metadata(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/lstm")).json()
    assert metadata == (await client.get("/v2/models/lstm/versions/1")).json()
    assert metadata["name"] == "lstm" and metadata["versions"] == ["1"]
    assert metadata["platform"] == "torch"
    tensors = {t["name"]: (t["datatype"], t["shape"]) for t in metadata["inputs"]}
    assert tensors == {
        "inputs": ("FP32", [-1, -1, 3]),
        "lengths": ("INT64", [-1]),
        "h0": ("FP32", [2, -1, 8]),
        "c0": ("FP32", [2, -1, 8]),
    }
    tensors = {t["name"]: (t["datatype"], t["shape"]) for t in metadata["outputs"]}
    assert tensors == {
        "predictions": ("FP64", [-1, 2]),
        "hn": ("FP32", [2, -1, 8]),
        "cn": ("FP32", [2, -1, 8]),
        "sequence": ("FP64", [-1, -1, 2]),
    }


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
async def test_json_infer_equals_v1(client: httpx.AsyncClient, datatype: str, nested: bool) -> None:
    x = X.astype(np.float32) if datatype == "FP32" else X
    body = {
        "id": "req-7",
        "inputs": [tensor("inputs", x, datatype, nested)],
        "outputs": outputs("predictions", "hn", "cn", "sequence"),
    }
    answer = await infer(client, body)
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("lstm", "1", "req-7")
    got = by_name(answer)
    want = await v1(client, x.tolist(), return_state=True, return_sequence=True)
    assert got["predictions"].tolist() == want["predictions"]  # the same numbers, exactly
    np.testing.assert_allclose(got["hn"], want["state"]["h"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["cn"], want["state"]["c"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["sequence"], want["sequence"], rtol=0, atol=1e-6)


async def test_predictions_alone_by_default_and_no_id_without_one(
    client: httpx.AsyncClient,
) -> None:
    answer = await infer(client, {"inputs": [tensor("inputs", X)]})
    assert "id" not in answer
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("predictions", "FP64", [2, 2])
    ]


async def test_versioned_path_and_kserve_model_name(client: httpx.AsyncClient) -> None:
    body = {"model_name": "lstm", "inputs": [tensor("inputs", X)]}
    answer = await infer(client, body, "/v2/models/lstm/versions/1/infer")
    assert answer["model_version"] == "1"
    assert by_name(answer)["predictions"].tolist() == (await v1(client, X.tolist()))["predictions"]


async def test_lengths_make_a_ragged_batch(client: httpx.AsyncClient) -> None:
    lengths = np.array([2, 5])
    padded = X.copy()
    padded[0, 2:] = 99.0  # past its length: never read
    body = {
        "inputs": [tensor("inputs", padded), tensor("lengths", lengths, "INT32")],
        "outputs": outputs("predictions", "hn", "sequence"),
    }
    got = by_name(await infer(client, body))
    ragged = [X[0, :2].tolist(), X[1].tolist()]
    want = await v1(client, ragged, return_state=True, return_sequence=True)
    assert got["predictions"].tolist() == want["predictions"]
    np.testing.assert_allclose(got["hn"], want["state"]["h"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["sequence"][0, :2], want["sequence"][0], rtol=0, atol=1e-6)
    assert not got["sequence"][0, 2:].any()


async def test_initial_state_equals_v1_state(client: httpx.AsyncClient) -> None:
    h0, c0 = RNG.normal(size=(2, 2, 8)), RNG.normal(size=(2, 2, 8))
    inputs = [tensor("inputs", X), tensor("h0", h0), tensor("c0", c0, nested=True)]
    got = by_name(await infer(client, {"inputs": inputs, "outputs": outputs("predictions", "cn")}))
    state = {"h": h0.tolist(), "c": c0.tolist()}
    want = await v1(client, X.tolist(), state=state, return_state=True)
    assert got["predictions"].tolist() == want["predictions"]
    np.testing.assert_allclose(got["cn"], want["state"]["c"], rtol=0, atol=1e-6)


def binary_request(header: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps(header)
    return b"".join([head, *chunks]), {HEADER: str(len(head))}


def read_binary(response: httpx.Response) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and each output's array, read as the extension lays them out."""
    length = int(response.headers[HEADER])
    header = orjson.loads(response.content[:length])
    arrays, offset = {}, length
    for output in header["outputs"]:
        if "data" in output:
            arrays[output["name"]] = np.reshape(output["data"], output["shape"])
            continue
        size = output["parameters"]["binary_data_size"]
        dtype = {"FP32": "<f4", "FP64": "<f8"}[output["datatype"]]
        raw = response.content[offset : offset + size]
        arrays[output["name"]] = np.frombuffer(raw, dtype=dtype).reshape(output["shape"])
        offset += size
    assert offset == len(response.content)
    return header, arrays


async def test_binary_inputs_and_outputs_equal_json(client: httpx.AsyncClient) -> None:
    x = X.astype(np.float32)
    lengths = np.array([5, 3], dtype="<i8")
    raw_inputs = {"name": "inputs", "shape": [2, 5, 3], "datatype": "FP32"}
    raw_lengths = {"name": "lengths", "shape": [2], "datatype": "INT64"}
    header = {
        "inputs": [
            {**raw_inputs, "parameters": {"binary_data_size": x.nbytes}},
            {**raw_lengths, "parameters": {"binary_data_size": lengths.nbytes}},
        ],
        # Every output binary but hn, which asks for JSON.
        "outputs": [*outputs("predictions", "sequence"), *outputs("hn", binary_data=False)],
        "parameters": {"binary_data_output": True},
    }
    body, headers = binary_request(header, x.astype("<f4").tobytes(), lengths.tobytes())
    response = await client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    described, got = read_binary(response)
    assert ["parameters" in o for o in described["outputs"]] == [True, True, False]
    json_body = {
        "inputs": [tensor("inputs", x, "FP32"), tensor("lengths", lengths, "INT64")],
        "outputs": outputs("predictions", "sequence", "hn"),
    }
    want = by_name(await infer(client, json_body))
    for name in ("predictions", "sequence", "hn"):
        np.testing.assert_array_equal(got[name], want[name].astype(got[name].dtype))


async def test_little_endian_bytes_on_the_wire(client: httpx.AsyncClient) -> None:
    values = [1.5, -2.0, 0.25]
    header = {"inputs": [{"name": "inputs", "shape": [1, 1, 3], "datatype": "FP64",
                          "parameters": {"binary_data_size": 24}}]}  # fmt: skip
    body, headers = binary_request(
        {**header, "parameters": {"binary_data_output": True}}, struct.pack("<3d", *values)
    )
    response = await client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    _, got = read_binary(response)
    raw = response.content[int(response.headers[HEADER]) :]
    assert list(struct.unpack("<2d", raw)) == got["predictions"][0].tolist()
    assert got["predictions"].tolist() == (await v1(client, [[values]]))["predictions"]


def sequence(sequence_id: int | str, start: bool = False, end: bool = False) -> dict[str, Any]:
    return {"sequence_id": sequence_id, "sequence_start": start, "sequence_end": end}


async def stream(client: httpx.AsyncClient, part: np.ndarray, **parameters: Any) -> httpx.Response:
    body = {
        "inputs": [tensor("inputs", part)],
        "outputs": outputs("predictions", "hn"),
        "parameters": parameters,
    }
    return await client.post(INFER, json=body)


async def test_sequence_equals_the_whole_and_ends(
    client: httpx.AsyncClient, services: Services
) -> None:
    parts = [(0, 2, True, False), (2, 4, False, False), (4, 5, False, True)]
    for a, b, start, end in parts:
        response = await stream(client, X[:, a:b], **sequence(77, start, end))
        assert response.status_code == 200, response.text
        assert (await services.sessions.exists("77")) is not end
    got = by_name(response.json())
    want = await v1(client, X.tolist(), return_state=True)
    np.testing.assert_allclose(got["predictions"], want["predictions"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["hn"], want["state"]["h"], rtol=0, atol=1e-5)
    after_end = await stream(client, X, **sequence(77))
    assert after_end.status_code == 400
    assert "sequence_start" in after_end.json()["error"]


async def test_a_start_begins_afresh_and_string_ids_work(client: httpx.AsyncClient) -> None:
    assert (await stream(client, X, **sequence("sensor-1", start=True))).status_code == 200
    again = await stream(client, X, **sequence("sensor-1", start=True))
    alone = await v1(client, X.tolist())
    assert by_name(again.json())["predictions"].tolist() == alone["predictions"]


async def test_sequence_is_a_v1_session(client: httpx.AsyncClient) -> None:
    """A sequence id names the same session as /v1's session_id."""
    await stream(client, X[:, :3], **sequence(5, start=True))
    rest = await v1(client, X[:, 3:].tolist(), session_id="5")
    assert rest["session"]["started"] is False
    whole = await v1(client, X.tolist())
    np.testing.assert_allclose(rest["predictions"], whole["predictions"], rtol=0, atol=1e-5)


async def test_sequence_conflicts(client: httpx.AsyncClient) -> None:
    await stream(client, X, **sequence(9, start=True))
    h0 = tensor("h0", np.zeros((2, 2, 8)))
    body = {"inputs": [tensor("inputs", X), h0, {**h0, "name": "c0"}],
            "parameters": sequence(9)}  # fmt: skip
    conflict = await client.post(INFER, json=body)
    assert conflict.status_code == 409 and set(conflict.json()) == {"error"}
    fewer = await stream(client, X[:1], **sequence(9))
    assert fewer.status_code == 400 and "holds the state of 2 sequences" in fewer.json()["error"]
    failed_start = await stream(client, X[:, :, :2], **sequence(9, start=True))
    assert failed_start.status_code == 400
    # A failed start leaves the running sequence as it was: it continues.
    assert (await stream(client, X, **sequence(9))).status_code == 200


async def test_infer_looks_its_model_version_up_once(
    client: httpx.AsyncClient,
    services: Services,
    other_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hot swap after the tensors were read for one version cannot run them on another."""
    other = services.registry.store.import_file(other_checkpoint, {"kind": "import"})
    read_tensors = v2_routes.predict_input

    def swap_then_read(*args: Any) -> Any:
        services.registry.activate(other.version)
        return read_tensors(*args)

    monkeypatch.setattr(v2_routes, "predict_input", swap_then_read)
    answer = await infer(client, {"inputs": [tensor("inputs", X)]})
    assert answer["model_version"] == "1" != other.version
    pinned = await v1(client, X.tolist(), model_version="1")
    np.testing.assert_allclose(by_name(answer)["predictions"], pinned["predictions"])
