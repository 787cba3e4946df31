"""The backend-independent prediction layer: scaling both ways and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import InvalidInput
from model.inference import pad_sequences
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import SMALL_CONFIG, make_checkpoint


@pytest.fixture(scope="module")
def predictor() -> TorchPredictor:
    return TorchPredictor(make_checkpoint())


def test_predictions_are_in_user_units_and_float64(predictor: TorchPredictor) -> None:
    x, lengths = pad_sequences([np.ones((4, SMALL_CONFIG.input_size), np.float32)])
    result = predictor.predict(x, lengths, return_steps=True)
    target = predictor.checkpoint.target_scaler
    raw = predictor.forward(predictor.checkpoint.input_scaler.transform(x), lengths, None, True)
    assert result.predictions.dtype == np.float64
    np.testing.assert_allclose(result.predictions, raw.predictions * target.std + target.mean)
    assert result.steps is not None
    np.testing.assert_allclose(result.steps[0][-1], result.predictions[0], rtol=1e-6)


def test_inputs_that_overflow_the_scaling_are_refused(predictor: TorchPredictor) -> None:
    x = np.full((1, 2, SMALL_CONFIG.input_size), 3.0e38, np.float32)
    with pytest.raises(InvalidInput, match="too large") as caught:
        predictor.predict(x, np.array([2]))
    assert caught.value.location == ("inputs",)


def test_a_non_finite_state_is_refused_with_its_location(predictor: TorchPredictor) -> None:
    shape = (SMALL_CONFIG.num_layers, 1, SMALL_CONFIG.hidden_size)
    h, c = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    c[0, 0, 0] = np.nan
    x = np.zeros((1, 2, SMALL_CONFIG.input_size), np.float32)
    with pytest.raises(InvalidInput, match="finite") as caught:
        predictor.predict(x, np.array([2]), (h, c))
    assert caught.value.location == ("state", "c")


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one sequence"):
        pad_sequences([])
