"""Each sequence gets exactly what it gets alone: sent alone, in a ragged batch, or split in
two requests with the state passed along; and that equals a direct LSTMModel call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.reference import Expected, expected

pytestmark = pytest.mark.integration

ATOL = 1e-5
RNG = np.random.default_rng(2024)
# Lengths chosen so the batch is ragged, and one sequence is a single step.
SEQUENCES = [RNG.normal(0.0, 3.0, size=(n, 3)).round(4).tolist() for n in (12, 1, 7, 30, 4)]


def predict(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_matches(result: dict[str, Any], row: int, want: Expected) -> None:
    np.testing.assert_allclose(result["predictions"][row], want.prediction, atol=ATOL)
    np.testing.assert_allclose(np.array(result["state"]["h"])[:, row], want.h, atol=ATOL)
    np.testing.assert_allclose(np.array(result["state"]["c"])[:, row], want.c, atol=ATOL)


def test_alone_equals_the_model(client: httpx.Client, checkpoint: Path) -> None:
    for sequence in SEQUENCES:
        result = predict(client, inputs=[sequence], return_state=True, return_sequence=True)
        want = expected(checkpoint, sequence)
        assert_matches(result, 0, want)
        np.testing.assert_allclose(result["sequence"][0], want.steps, atol=ATOL)


def test_ragged_batch_equals_each_alone(client: httpx.Client, checkpoint: Path) -> None:
    batch = predict(client, inputs=SEQUENCES, return_state=True, return_sequence=True)
    assert batch["model"] == {"name": "lstm", "version": "1"}
    assert [len(steps) for steps in batch["sequence"]] == [len(s) for s in SEQUENCES]
    for row, sequence in enumerate(SEQUENCES):
        want = expected(checkpoint, sequence)
        assert_matches(batch, row, want)
        np.testing.assert_allclose(batch["sequence"][row], want.steps, atol=ATOL)


def test_reordered_batch_gives_the_same_rows(client: httpx.Client) -> None:
    forward = predict(client, inputs=SEQUENCES)["predictions"]
    backward = predict(client, inputs=SEQUENCES[::-1])["predictions"]
    np.testing.assert_allclose(forward, backward[::-1], atol=ATOL)


@pytest.mark.parametrize("split", [1, 3, 6])
def test_split_with_state_equals_whole(client: httpx.Client, checkpoint: Path, split: int) -> None:
    """Two requests, the first's returned state passed to the second; each sequence is cut at
    `split` (or keeps its last step for the second part when shorter)."""
    long_enough = [s for s in SEQUENCES if len(s) > 1]
    cuts = [min(split, len(s) - 1) for s in long_enough]
    first = predict(client, inputs=[s[:k] for s, k in zip(long_enough, cuts, strict=True)],
                    return_state=True)  # fmt: skip
    second = predict(
        client,
        inputs=[s[k:] for s, k in zip(long_enough, cuts, strict=True)],
        state=first["state"],
        return_state=True,
    )
    whole = predict(client, inputs=long_enough, return_state=True)
    for row, sequence in enumerate(long_enough):
        want = expected(checkpoint, sequence)
        assert_matches(second, row, want)
        assert_matches(whole, row, want)


def test_state_continues_a_sequence_like_the_model(client: httpx.Client, checkpoint: Path) -> None:
    """A state that is not the result of a previous request: compared to the model directly."""
    h = RNG.normal(0.0, 0.5, size=(2, 1, 8))
    c = RNG.normal(0.0, 0.5, size=(2, 1, 8))
    result = predict(
        client,
        inputs=[SEQUENCES[2]],
        state={"h": h.tolist(), "c": c.tolist()},
        return_state=True,
    )
    assert_matches(result, 0, expected(checkpoint, SEQUENCES[2], (h[:, 0], c[:, 0])))
