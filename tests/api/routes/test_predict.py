"""Predictions in process: numbers equal a direct model call, for a sequence alone, in a ragged
batch, and split in two with the state passed along."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.serving.services import Services
from tests.support.reference import expected

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(7)
SEQUENCES = [RNG.normal(0.0, 2.0, size=(length, 3)).tolist() for length in (5, 1, 9, 3)]


async def predict(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_ragged_batch_equals_each_sequence_alone_and_the_model(
    client: httpx.AsyncClient, small_checkpoint: Path
) -> None:
    batch = await predict(client, inputs=SEQUENCES, return_state=True, return_sequence=True)
    assert batch["model"] == {"name": "lstm", "version": "1"}
    for b, sequence in enumerate(SEQUENCES):
        alone = await predict(client, inputs=[sequence], return_state=True, return_sequence=True)
        want = expected(small_checkpoint, sequence)
        for result, row in ((batch, b), (alone, 0)):
            np.testing.assert_allclose(result["predictions"][row], want.prediction, atol=1e-5)
            np.testing.assert_allclose(np.array(result["state"]["h"])[:, row], want.h, atol=1e-5)
            np.testing.assert_allclose(np.array(result["state"]["c"])[:, row], want.c, atol=1e-5)
            np.testing.assert_allclose(result["sequence"][row], want.steps, atol=1e-5)


async def test_split_with_state_equals_whole(client: httpx.AsyncClient) -> None:
    whole = await predict(client, inputs=SEQUENCES, return_state=True)
    first = await predict(client, inputs=[s[:1] for s in SEQUENCES], return_state=True)
    rest = [s[1:] for s in SEQUENCES]
    # The 1-step sequence is complete after the first part; its continuation must be absent,
    # so it is carried on by itself below and dropped from the second batch.
    keep = [b for b, s in enumerate(rest) if s]
    h, c = np.array(first["state"]["h"]), np.array(first["state"]["c"])
    second = await predict(
        client,
        inputs=[rest[b] for b in keep],
        state={"h": h[:, keep].tolist(), "c": c[:, keep].tolist()},
        return_state=True,
    )
    for row, b in enumerate(keep):
        np.testing.assert_allclose(second["predictions"][row], whole["predictions"][b], atol=1e-5)
        np.testing.assert_allclose(
            np.array(second["state"]["h"])[:, row], np.array(whole["state"]["h"])[:, b], atol=1e-5
        )
    np.testing.assert_allclose(first["predictions"][1], whole["predictions"][1], atol=1e-5)


async def test_predictions_are_in_user_units(
    client: httpx.AsyncClient, small_checkpoint: Path
) -> None:
    """The target scaler's mean is near 10: unscaled outputs would sit near 0."""
    result = await predict(client, inputs=[SEQUENCES[0]])
    want = expected(small_checkpoint, SEQUENCES[0])
    np.testing.assert_allclose(result["predictions"][0], want.prediction, atol=1e-5)
    assert result["state"] is None and result["sequence"] is None and result["session"] is None


async def test_sequence_output_is_unpadded(client: httpx.AsyncClient) -> None:
    result = await predict(client, inputs=SEQUENCES, return_sequence=True)
    assert [len(steps) for steps in result["sequence"]] == [5, 1, 9, 3]
    for b in range(len(SEQUENCES)):
        assert result["sequence"][b][-1] == pytest.approx(result["predictions"][b], abs=1e-5)


async def test_model_version_selects_an_older_version(
    client: httpx.AsyncClient,
    services: Services,
    small_checkpoint: Path,
    other_checkpoint: Path,
) -> None:
    second = services.registry.store.import_file(other_checkpoint, {"kind": "test"})
    services.registry.activate(second.version)
    new = await predict(client, inputs=[SEQUENCES[0]])
    old = await predict(client, inputs=[SEQUENCES[0]], model_version="1")
    assert new["model"]["version"] == "2" and old["model"]["version"] == "1"
    np.testing.assert_allclose(
        old["predictions"][0], expected(small_checkpoint, SEQUENCES[0]).prediction, atol=1e-5
    )
    np.testing.assert_allclose(
        new["predictions"][0], expected(other_checkpoint, SEQUENCES[0]).prediction, atol=1e-5
    )


async def test_huge_inputs_saturate_the_gates_to_finite_numbers(
    client: httpx.AsyncClient,
) -> None:
    """The gates saturate: the answer is finite JSON, never NaN (which JSON cannot carry)."""
    huge = [[1e30, -1e30, 1e30], [-1e30, 1e30, -1e30]]
    result = await predict(client, inputs=[huge], return_state=True, return_sequence=True)
    assert np.isfinite(result["predictions"]).all()
    assert np.isfinite(result["state"]["c"]).all()


async def test_inputs_that_overflow_the_scaling_are_a_422(client: httpx.AsyncClient) -> None:
    """3e38 is a valid float32, but divided by the fixture's input std (< 1 for some features)
    it is not: refused with a message, never computed into NaN."""
    huge = [[3e38, -3e38, 3e38]]
    response = await client.post("/v1/predict", json={"inputs": [huge]})
    assert response.status_code == 422
    assert response.json()["error"]["location"] == ["inputs"]
    assert "too large" in response.json()["error"]["message"]
