"""The recurrent model as Open Inference Protocol tensors: its metadata, a request's named
tensors as the PredictInput and SessionStep of app/protocol/request.py, and the prediction as
the outputs asked for.

Inputs: `inputs` [B, T, input_size]; optional `lengths` [B] for a ragged batch padded to T (the
steps past a sequence's length are never read); optional `h0` and, for an LSTM, `c0` [num_layers,
B, hidden_size], both or neither. Outputs: `predictions` [B, output_size], in float64 like /v1's
numbers; `hn` and, for an LSTM, `cn` [num_layers, B, hidden_size], the model's float32 state;
`sequence` [B, T, output_size], each step's output, zero past each length. A GRU or an RNN has no
cell state: it lists no `c0` or `cn`. Without `outputs`, predictions alone."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from app.protocol.arrays import checked_lengths, dense, to_float32, zero_padding
from app.protocol.request import PredictInput, SessionStep
from app.protocol.v1.schemas import PredictOptions
from app.protocol.v2.schemas import InferenceRequest, InferParameters, MetadataTensor
from app.protocol.v2.tensors import Output, Received
from model.config import LSTMConfig
from model.errors import InvalidInput
from model.inference import Prediction, State

_FLOATS, _INTEGERS = ("FP32", "FP64"), ("INT32", "INT64")
INPUT_TYPES = {"inputs": _FLOATS, "lengths": _INTEGERS, "h0": _FLOATS, "c0": _FLOATS}
OUTPUTS = ("predictions", "hn", "cn", "sequence")
_CELL_STATE = ("c0", "cn")  # an LSTM's alone


def _names(names: tuple[str, ...] | dict[str, tuple[str, str]], config: LSTMConfig) -> list[str]:
    """The tensor names `config`'s model has among `names`."""
    return [name for name in names if config.has_cell_state or name not in _CELL_STATE]


class Wanted(NamedTuple):
    """An output to return."""

    name: str
    binary: bool


def inputs_metadata(config: LSTMConfig) -> list[MetadataTensor]:
    state = [config.num_layers, -1, config.hidden_size]
    tensors = [
        MetadataTensor(name="inputs", datatype="FP32", shape=[-1, -1, config.input_size]),
        MetadataTensor(name="lengths", datatype="INT64", shape=[-1]),
        MetadataTensor(name="h0", datatype="FP32", shape=state),
        MetadataTensor(name="c0", datatype="FP32", shape=state),
    ]
    return [tensor for tensor in tensors if tensor.name in _names(INPUT_TYPES, config)]


def outputs_metadata(config: LSTMConfig) -> list[MetadataTensor]:
    state = [config.num_layers, -1, config.hidden_size]
    tensors = [
        MetadataTensor(name="predictions", datatype="FP64", shape=[-1, config.output_size]),
        MetadataTensor(name="hn", datatype="FP32", shape=state),
        MetadataTensor(name="cn", datatype="FP32", shape=state),
        MetadataTensor(name="sequence", datatype="FP64", shape=[-1, -1, config.output_size]),
    ]
    return [tensor for tensor in tensors if tensor.name in _names(OUTPUTS, config)]


def predict_input(
    received: Received, config: LSTMConfig, version: str | None, wanted: list[Wanted]
) -> PredictInput:
    """The request as /v1 would have sent it. `config`: the model's, for h0 and c0; the
    pipeline checks the inputs against the model it runs."""
    request, tensors = received
    _check_names(request, config)
    inputs = dense(tensors["inputs"], ("inputs",))
    lengths = checked_lengths(tensors.get("lengths"), inputs)
    inputs = to_float32(zero_padding(inputs, lengths), ("inputs",))
    steps = any(output.name == "sequence" for output in wanted)
    options = PredictOptions(return_sequence=steps, model_version=version)
    return PredictInput(options, inputs, lengths, _state(tensors, len(lengths), config))


def _check_names(request: InferenceRequest, config: LSTMConfig) -> None:
    known = _names(INPUT_TYPES, config)
    for tensor in request.inputs:
        datatypes = INPUT_TYPES.get(tensor.name)
        if datatypes is None or tensor.name not in known:
            raise InvalidInput(
                f"unknown input {tensor.name!r}; this model takes {', '.join(known)}"
            )
        if tensor.datatype not in datatypes:
            raise InvalidInput(
                f"input {tensor.name!r} must be {' or '.join(datatypes)}, not {tensor.datatype}"
            )
    if all(tensor.name != "inputs" for tensor in request.inputs):
        raise InvalidInput("the input named 'inputs' is missing: the batch of sequences")


def _state(tensors: dict[str, np.ndarray], batch: int, config: LSTMConfig) -> State | None:
    names = ("h0", "c0") if config.has_cell_state else ("h0",)
    if not any(name in tensors for name in names):
        return None
    shape = (config.num_layers, batch, config.hidden_size)
    parts = []
    for name in names:
        if name not in tensors:
            raise InvalidInput("send both h0 and c0, or neither")
        if tensors[name].shape != shape:
            raise InvalidInput(
                f"{name} must have shape [num_layers={shape[0]}, B={batch}, "
                f"hidden_size={shape[2]}], got {list(tensors[name].shape)}"
            )
        parts.append(to_float32(tensors[name], (name,)))
    return parts[0], parts[1] if config.has_cell_state else None


def session_step(parameters: InferParameters | None) -> SessionStep | None:
    """Triton's sequence extension: a sequence_id is the id of a server-kept session."""
    if parameters is None:
        return None
    if parameters.sequence_id in (0, ""):
        if parameters.sequence_start or parameters.sequence_end:
            raise InvalidInput("sequence_start and sequence_end need a sequence_id")
        return None
    return SessionStep(
        str(parameters.sequence_id), parameters.sequence_start, parameters.sequence_end
    )


def wanted_outputs(request: InferenceRequest, config: LSTMConfig) -> list[Wanted]:
    """The outputs asked for, each as binary data or not: its own `binary_data` parameter, else
    the request's `binary_data_output`."""
    known = _names(OUTPUTS, config)
    binary = request.parameters.binary_data_output if request.parameters else False
    if request.outputs is None:
        return [Wanted("predictions", binary)]
    wanted: list[Wanted] = []
    for output in request.outputs:
        if output.name not in known:
            raise InvalidInput(f"unknown output {output.name!r}; this model has {', '.join(known)}")
        if any(other.name == output.name for other in wanted):
            raise InvalidInput(f"output {output.name!r} is asked for twice")
        own = output.parameters.binary_data if output.parameters else None
        wanted.append(Wanted(output.name, binary if own is None else own))
    return wanted


def outputs(prediction: Prediction, wanted: list[Wanted], steps: int) -> list[Output]:
    """`steps`: the request's T, the sequence output's second dimension."""
    return [Output(name, _array(prediction, name, steps), binary) for name, binary in wanted]


def _array(prediction: Prediction, name: str, steps: int) -> np.ndarray:
    if name == "cn" and prediction.c is not None:
        return prediction.c
    if name != "sequence":
        return {"predictions": prediction.predictions, "hn": prediction.h}[name]
    if prediction.steps is None:  # a bug: predict_input asks for them
        raise RuntimeError("the per-step outputs were not computed")
    batch, size = prediction.predictions.shape
    padded = np.zeros((batch, steps, size), dtype=np.float64)  # (B, T, O)
    for row, sequence in enumerate(prediction.steps):
        padded[row, : len(sequence)] = sequence
    return padded
