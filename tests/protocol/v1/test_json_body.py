"""The fast JSON path reads plain bodies without the validating one, into the same arrays; any
body it is unsure of goes to the validating path, which gives the error it always gave."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from app.protocol.request import PredictInput
from app.protocol.v1 import json_body
from app.protocol.v1.schemas import FLOAT32_MAX
from app.serving.checked_input import make_batch, state_to_arrays
from tests.support.checkpoints import SMALL_CONFIG

RNG = np.random.default_rng(9)
STATE = {"h": np.zeros((2, 2, 8)).tolist(), "c": np.ones((2, 2, 8)).tolist()}
PLAIN = [
    {"inputs": RNG.normal(size=(2, 4, 3)).tolist()},
    {"inputs": [[[1, 2, 3]], [[4, -5, 6], [7, 8, 9]]], "return_state": True},  # ints, ragged
    {"inputs": [[[0.5, -0.0, 1e-30]] * 3] * 2, "state": STATE, "return_sequence": False},
    {"inputs": [[[FLOAT32_MAX, -FLOAT32_MAX, 3e38]]], "session_id": "s-1", "model_version": "1"},
    {"inputs": [[[1.5, 2.5, 3.5]]], "state": None, "session_id": None},
    {"inputs": [[[1.0, 2.0, 3.0]]], "model_version": 'a"b', "session_id": "true-story"},
    {"inputs": [[[1.0, 2.0, 3.0]] * 2, [[4.0, 5.0, 6.0]] * 5, [[7.0, 8.0, 9.0]]]},  # ragged
    {"inputs": [[[18446744073709551615, -9223372036854775808, 1e-300]]]},  # big ints, tiny
]


def arrays(parsed: PredictInput) -> list[np.ndarray]:
    """What the model gets from `parsed`, for the small config."""
    batch = make_batch(parsed, SMALL_CONFIG, None, False)
    parts = [batch.x, batch.lengths]
    if parsed.state is not None:
        parts.extend(state_to_arrays(parsed.state, SMALL_CONFIG, len(parsed.lengths)))
    return parts


@pytest.mark.parametrize("body", PLAIN, ids=range(len(PLAIN)))
def test_plain_bodies_take_the_fast_path_to_the_same_arrays(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    fast, validated = json_body._fast(raw), json_body._validated(raw)
    assert isinstance(fast.inputs, np.ndarray)
    assert fast.options == validated.options
    for got, want in zip(arrays(fast), arrays(validated), strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


@pytest.mark.parametrize(
    "raw",
    [
        b'{"inputs": [[[1.0, true, 2.0]]], "return_state": true}',  # numpy would read 1.0
        b'{"inputs": [[[1.0, 2.0, 3.0]]], "state": {"h": [[[false]]], "c": [[[0]]]}}',
        b'{"inputs": [[[1.0, null, 3.0]]]}',
        b'{"inputs": [[[1.0, "2", 3.0]]]}',  # numpy would read 2.0
        b'{"inputs": [[[1.0, "nan", 3.0]]], "model_version": "1"}',
        b'{"inputs": [[[1.0, {"a": 1}, 3.0]]]}',
        b'{"inputs": [[[1.0, 2.0, 3.4028235e38]]]}',  # rounds to float32's largest; refused
        b'{"inputs": [[[1.0, 2.0]], [[1.0, 2.0, 3.0]]]}',  # steps of two sizes
        b'{"inputs": [[[1.0, 2.0, 3.0]]], "inputs": [[[4.0, 5.0, 6.0]]]}',  # repeated key
        b'{"inputs": [[[1.0, 2.0, 3.0]], [[4.0, 5.0], [6.0]]]}',  # steps of two sizes
        b'{"inputs": [[1.0, 2.0, 3.0]]}',  # a number where a step belongs
        b'{"inputs": [[[1.0, 2.0, 3.0]]], "state": {"h": [[[0.0], [0.0, 1.0]]]}}',  # ragged h
        b'{"inputs": [[[1.0, 2.0, 3.0]]]} trailing',
        b'{"inputs": [[[1.0, 2.0, 3.0]]], "extra": 1}',
        b'{"inputs": [[[1, 2, NaN]]]}',
    ],
)
def test_unsure_bodies_take_the_validating_path(raw: bytes) -> None:
    with pytest.raises(json_body._NotPlain):
        json_body._fast(raw)


@pytest.mark.anyio
async def test_query_parameters_with_a_json_body_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/predict?return_state=true", json={"inputs": [[[1.0, 2.0, 3.0]]]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["location"] == ["return_state"]


@pytest.mark.anyio
async def test_a_boolean_deep_in_a_batch_is_located(client: httpx.AsyncClient) -> None:
    inputs: list[Any] = RNG.normal(size=(4, 5, 3)).tolist()
    inputs[2][3][1] = True
    response = await client.post("/v1/predict", json={"inputs": inputs, "return_state": True})
    assert response.status_code == 422
    assert response.json()["error"]["location"] == ["inputs", 2, 3, 1]
