"""/v1/predict's JSON bodies, through both the fast path and the validating one: the schema's
fields holding anything JSON can, numbers of every kind among the steps, unknown fields, and
text that is no JSON at all. Valid bodies get a 200; the rest /v1's one error shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.checkpoints import SMALL_CONFIG as MODEL
from tests.support.fuzzing import FUZZ, check_answer

pytestmark = pytest.mark.anyio

FEATURES, LAYERS, HIDDEN = MODEL.input_size, MODEL.num_layers, MODEL.hidden_size
JSON = {"content-type": "application/json"}

numbers = st.floats(-1e6, 1e6, allow_nan=False, width=32)
leaves = st.one_of(
    st.none(), st.booleans(), st.floats(), st.integers(-(2**100), 2**100), st.text(max_size=5)
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=24,
)  # fmt: skip
# Steps that are nearly right: numbers of any kind (NaN, 1e39, huge integers), the odd
# non-number, one feature too few or too many.
step_values = st.one_of(numbers, numbers, st.floats(), st.integers(-(2**70), 2**70), leaves)
steps = st.lists(step_values, min_size=FEATURES - 1, max_size=FEATURES + 1)
sequences = st.lists(st.one_of(steps, steps, json_values), max_size=5)
states = st.fixed_dictionaries(
    {},
    optional={
        "h": st.one_of(json_values, st.lists(st.lists(steps, max_size=3), max_size=3)),
        "c": json_values,
        "x": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.one_of(st.lists(sequences, max_size=4), json_values),
        "state": st.one_of(states, json_values),
        "return_state": json_values,
        "return_sequence": st.one_of(st.booleans(), json_values),
        "session_id": st.one_of(st.none(), st.text(max_size=8)),
        "model_version": st.one_of(st.none(), st.sampled_from(["1", "999"]), json_values),
        "temperature": json_values,
    },
)


@st.composite
def valid_body(draw: st.DrawFn) -> dict[str, Any]:
    """A ragged batch of steps of input_size numbers; maybe a state, maybe options."""
    batch = draw(st.integers(1, 4))
    step = st.lists(numbers, min_size=FEATURES, max_size=FEATURES)
    body: dict[str, Any] = {
        "inputs": [draw(st.lists(step, min_size=1, max_size=6)) for _ in range(batch)]
    }
    if draw(st.booleans()):
        state = st.lists(
            st.lists(st.lists(numbers, min_size=HIDDEN, max_size=HIDDEN),
                     min_size=batch, max_size=batch),
            min_size=LAYERS, max_size=LAYERS,
        )  # fmt: skip
        body["state"] = {"h": draw(state), "c": draw(state)}
    for option in ("return_state", "return_sequence"):
        if draw(st.booleans()):
            body[option] = draw(st.booleans())
    return body


def encode(value: Any) -> bytes:
    """Any JSON value, NaN and Infinity included, as Python's json writes them."""
    return json.dumps(value).encode()


@FUZZ
@given(body=valid_body())
async def test_a_valid_body_gets_200(fuzz_client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await fuzz_client.post("/v1/predict", content=encode(body), headers=JSON)
    check_answer(response, valid=True)
    assert len(response.json()["predictions"]) == len(body["inputs"])


@FUZZ
@given(body=st.one_of(bodies.map(encode), json_values.map(encode), st.binary(max_size=200)))
async def test_any_body_gets_an_answer(fuzz_client: httpx.AsyncClient, body: bytes) -> None:
    check_answer(await fuzz_client.post("/v1/predict", content=body, headers=JSON))
