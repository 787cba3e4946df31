"""Shape checks that point at the first misfit, for lists and arrays alike, and the finiteness
check on outputs."""

from __future__ import annotations

import numpy as np
import pytest

from app.protocol.request import PredictInput, Tensor3
from app.protocol.v1.schemas import PredictOptions
from app.serving.checked_input import check_finite, make_batch, state_to_arrays
from model.errors import InvalidInput
from model.inference import Prediction
from tests.support.checkpoints import SMALL_CONFIG


def parsed(inputs: Tensor3 | np.ndarray) -> PredictInput:
    lengths = np.array([len(sequence) for sequence in inputs])
    return PredictInput(PredictOptions(), inputs, lengths, None)


def test_make_batch_pads_ragged_sequences() -> None:
    request = parsed([[[1.0, 2.0, 3.0]] * 2, [[4.0, 5.0, 6.0]]])
    batch = make_batch(request, SMALL_CONFIG, None, True)
    assert batch.x.shape == (2, 2, 3) and batch.x.dtype == np.float32
    assert batch.lengths.tolist() == [2, 1]
    assert batch.x[1, 1].tolist() == [0.0, 0.0, 0.0]
    assert batch.return_steps


def test_make_batch_locates_a_short_step() -> None:
    with pytest.raises(InvalidInput) as raised:
        make_batch(parsed([[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0], [1.0]]]), SMALL_CONFIG, None, False)
    assert raised.value.location == ("inputs", 1, 1)


def test_make_batch_takes_an_array_and_locates_its_misfit() -> None:
    x = np.ones((2, 4, 3), dtype=np.float32)
    assert make_batch(parsed(x), SMALL_CONFIG, None, False).x is x
    with pytest.raises(InvalidInput) as raised:
        make_batch(parsed(x[:, :, :2]), SMALL_CONFIG, None, False)
    assert raised.value.location == ("inputs", 0, 0)
    assert raised.value.message == "each step needs 3 features, got 2"


def test_state_to_arrays_shapes_and_locations() -> None:
    good = [[[0.5] * 8] * 2] * 2
    h, c = state_to_arrays((good, good), SMALL_CONFIG, batch=2)
    assert h.shape == c.shape == (2, 2, 8) and h.dtype == np.float32
    with pytest.raises(InvalidInput) as raised:
        state_to_arrays((good, good), SMALL_CONFIG, batch=3)
    assert raised.value.location == ("state", "h", 0)
    array = np.asarray(good, dtype=np.float32)
    with pytest.raises(InvalidInput) as from_array:
        state_to_arrays((array, array[:, :, :7]), SMALL_CONFIG, batch=2)
    assert from_array.value.location == ("state", "c", 0, 0)


@pytest.mark.parametrize("part", ["predictions", "h", "c", "steps"])
def test_check_finite_refuses_nan_anywhere(part: str) -> None:
    parts = {
        "predictions": np.zeros((1, 2)),
        "h": np.zeros((2, 1, 8)),
        "c": np.zeros((2, 1, 8)),
        "steps": [np.zeros((3, 2))],
    }
    check_finite(Prediction(**parts))
    target = parts[part]
    (target[0] if isinstance(target, list) else target).flat[0] = np.nan
    with pytest.raises(InvalidInput) as raised:
        check_finite(Prediction(**parts))
    assert raised.value.location == ("inputs",)
