"""A prediction as the PredictResponse JSON, written by orjson straight from the arrays: no
Python float per number, no jsonable_encoder. float32 states are written at float32 precision
(their shortest repr), which reads back as the same float32."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from app.protocol.v1.schemas import PredictOptions, SessionInfo
from model.inference import Prediction


def prediction_json(
    model_name: str,
    version: str,
    options: PredictOptions,
    prediction: Prediction,
    session: SessionInfo | None,
) -> bytes:
    state = None
    if options.return_state:
        state = {"h": _contiguous(prediction.h)}
        if prediction.c is not None:  # an LSTM's; a GRU or an RNN has none
            state["c"] = _contiguous(prediction.c)
    sequence = None
    if options.return_sequence and prediction.steps is not None:
        sequence = [_contiguous(steps) for steps in prediction.steps]
    answer: dict[str, Any] = {
        "model": {"name": model_name, "version": version},
        "predictions": _contiguous(prediction.predictions),
        "state": state,
        "sequence": sequence,
        "session": None if session is None else session.model_dump(),
    }
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def _contiguous(array: np.ndarray) -> np.ndarray:
    """orjson writes C-contiguous arrays only."""
    return np.ascontiguousarray(array)
