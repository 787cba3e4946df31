"""GET /v1/models/{version}/export, in process: the active model as an ONNX file that plain
onnxruntime runs to /v1/predict's answer; the token, an unknown version and an unknown format."""

from __future__ import annotations

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from tests.support.bad_requests import AUTH

pytestmark = pytest.mark.anyio

BODY = {"inputs": [[[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], [[2.0, 0.0, -2.0]]], "return_state": True}


async def test_the_file_answers_what_predict_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/1/export?format=onnx", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/onnx"
    assert response.headers["content-disposition"] == 'attachment; filename="lstm-serve-1.onnx"'
    answer = (await client.post("/v1/predict", json=BODY)).json()
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    x = np.zeros((2, 2, 3), np.float32)
    x[0], x[1, :1] = BODY["inputs"][0], BODY["inputs"][1]
    zeros = np.zeros((2, 2, 8), np.float32)  # (num_layers, B, hidden_size)
    feed = {"input": x, "sequence_lens": np.array([2, 1], np.int32), "initial_h": zeros,
            "initial_c": zeros}  # fmt: skip
    prediction, h, c, _ = session.run(None, feed)
    np.testing.assert_allclose(prediction, answer["predictions"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, answer["state"]["h"], atol=1e-5)
    np.testing.assert_allclose(c, answer["state"]["c"], atol=1e-5)


async def test_export_needs_the_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/1/export")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("url", "status", "location"),
    [
        ("/v1/models/9/export", 404, ["version"]),
        ("/v1/models/1/export?format=tflite", 422, ["format"]),
    ],
)
async def test_unknown_versions_and_formats_are_refused_with_their_location(
    client: httpx.AsyncClient, url: str, status: int, location: list[str]
) -> None:
    response = await client.get(url, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["location"] == location
