"""The NumPy GRU: agreement with nn.GRU (outputs and final state in float32, ragged, with an
initial state, continued; autograd gradients in float64) and central-difference gradient checks,
with and without dropout; the checks are test_numpy_rnn.py's."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from model import numpy_gru as ng
from tests.model.test_numpy_lstm import RAGGED
from tests.model.test_numpy_rnn import (
    HIDDEN,
    Cell,
    autograd_errors,
    check_continued_matches_one_pass,
    check_forward_matches_torch,
    check_padding_gets_no_gradient_and_backward_needs_a_cache,
    gradient_errors,
    random_inputs,
    random_params,
)

GRU = Cell(ng, nn.GRU, "gru.", 3)


@pytest.mark.parametrize("with_h0", [True, False], ids=["h0", "zero-state"])
def test_float32_ragged_forward_matches_torch(with_h0: bool) -> None:
    assert check_forward_matches_torch(GRU, with_h0) < 1e-5


def test_float32_forward_continued_with_carried_state_matches_one_pass() -> None:
    assert check_continued_matches_one_pass(GRU) < 1e-5


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
def test_gradient_check(dropout: float) -> None:
    errors = gradient_errors(GRU, dropout)
    assert max(errors.values()) < 1e-6, errors


def test_float64_gradients_match_torch_autograd() -> None:
    errors = autograd_errors(GRU)
    assert max(errors.values()) < 1e-8, errors


def test_the_two_biases_of_the_candidate_get_different_gradients() -> None:
    # b_hn sits inside r * (W_hn h + b_hn): its gradient is b_in's scaled by r, not a copy.
    params = random_params(GRU)
    x, h0 = random_inputs()
    out, _, cache = ng.forward(x, params, h0, RAGGED)
    _, grads, _ = ng.backward(np.ones_like(out), cache)
    for k in range(2):
        d_ih, d_hh = grads[f"gru.bias_ih_l{k}"], grads[f"gru.bias_hh_l{k}"]
        np.testing.assert_array_equal(d_ih[: 2 * HIDDEN], d_hh[: 2 * HIDDEN])  # r and z
        assert np.abs(d_ih[2 * HIDDEN :] - d_hh[2 * HIDDEN :]).min() > 1e-6  # n


def test_padded_inputs_get_no_gradient_and_backward_needs_a_cache() -> None:
    check_padding_gets_no_gradient_and_backward_needs_a_cache(GRU)
