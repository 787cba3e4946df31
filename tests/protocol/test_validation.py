"""The validating parse answers the first error only, so however many unknown keys an object
has, the answer is the one its first unknown key (or a field's error before it) gives."""

from __future__ import annotations

import json

import pytest

from app.protocol.v1.schemas import PredictRequest
from app.protocol.validation import validated_json
from model.errors import InvalidInput

STEP = [0.5, -1.0, 2.0]
MANY = {f"k{n}": 1 for n in range(100_000)}
EXTRA = "Extra inputs are not permitted"


@pytest.mark.parametrize(
    ("body", "location", "message"),
    [
        ({"inputs": [[STEP]], **MANY}, ("k0",), EXTRA),
        ({"inputs": "x", **MANY}, ("inputs",), "Input should be a valid list"),
        ({"inputs": [[STEP]], "state": {"h": [[[0.1]]], **MANY}}, ("state", "k0"), EXTRA),
        (
            {"inputs": [[STEP]], "state": {"h": "x", **MANY}},
            ("state", "h"),
            "Input should be a valid list",
        ),
    ],
)
def test_many_unknown_keys_give_the_first_error(
    body: dict[str, object], location: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validated_json(json.dumps(body).encode(), PredictRequest)
    assert (tuple(caught.value.location), caught.value.message) == (location, message)
