"""An `.onnx` file a user brings, read back into a checkpoint when it is a recurrent regressor
this service knows: one or more forward ONNX LSTM, GRU or RNN operators (one cell, with PyTorch's
activations; a GRU with `linear_before_reset=1`), their weights constant, then a linear head
(Gemm, or MatMul then Add) whose output is the graph's. Files that lstm-serve exports pass, and
so do torch.onnx.export's of the classic model. The rebuilt model is then checked by running
both graphs with onnxruntime on the same random batch: a file that computes anything more (an
activation after the head, a second branch) is refused, never served as something it is not.
Anything else is refused with a CheckpointError that names what is missing. Never imports
torch; the weights come back in PyTorch's layout, with identity scaling (what the graph takes
and gives is what the model serves)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from model.checkpoint import METADATA_KEY, Checkpoint
from model.config import Cell
from model.errors import CheckpointError
from model.onnx_graph import OPERATORS, reorder_gates

_CELLS: dict[str, Cell] = {operator: cell for cell, operator in OPERATORS.items()}
# The activations PyTorch's cells compute, as the ONNX operators name them (their defaults).
_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_CHECK_BATCH, _CHECK_STEPS = 3, 5
_CHECK_TOLERANCE = 1e-4  # float32 kernels of two graphs; a different model is off by far more
_HEADER_KEYS = ("format_version", "config", "scaling", "input_scaling", "target_scaling")


class _Refused(Exception):
    """Why the file is not a model we serve; becomes a CheckpointError with the file's name."""


def read_onnx(path: str | Path) -> Checkpoint:
    """The model of an `.onnx` file, or CheckpointError saying what it lacks."""
    source = str(path)
    try:
        model = _parsed(Path(path).read_bytes())
        checkpoint, output = _checkpoint(model, source)
        _check_same_outputs(model, checkpoint, output)
    except _Refused as exc:
        raise CheckpointError(source, str(exc)) from exc
    except OSError as exc:
        raise CheckpointError(source, f"cannot be read ({exc.strerror})") from exc
    return checkpoint.with_metadata(**_metadata(model), imported_from=Path(path).name)


def _parsed(data: bytes) -> onnx.ModelProto:
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Refused(f"not a valid ONNX model ({first})") from exc
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise _Refused("weights in external data files; export them inside the .onnx file")
    return model


def _checkpoint(model: onnx.ModelProto, source: str) -> tuple[Checkpoint, str]:
    """The model's weights in PyTorch's layout, and the name of the graph output of its head."""
    graph = model.graph
    constants = dict(_constants(graph))
    recurrent = [
        node for node in graph.node if node.op_type in _CELLS and node.domain in ("", "ai.onnx")
    ]
    if not recurrent:
        found = ", ".join(sorted({node.op_type for node in graph.node})) or "no operators"
        raise _Refused(
            f"no LSTM, GRU or RNN operator (the graph has {found}); not a recurrent regressor"
        )
    cells = {node.op_type for node in recurrent}
    if len(cells) > 1:
        raise _Refused(
            f"operators of several cells ({', '.join(sorted(cells))}); one model has one"
        )
    cell = _CELLS[recurrent[0].op_type]
    tensors: dict[str, np.ndarray] = {}
    nonlinearity = "tanh"
    for layer, node in enumerate(recurrent):
        nonlinearity = _check_attributes(node)
        tensors.update(_layer_tensors(node, constants, cell, layer))
    head, output = _head(graph, constants, tensors[f"{cell}.weight_hh_l0"].shape[1])
    return Checkpoint.from_tensors({**tensors, **head}, source, nonlinearity), output


def _constants(graph: onnx.GraphProto) -> Iterator[tuple[str, np.ndarray]]:
    """Initializers and Constant nodes' values, by name."""
    for tensor in graph.initializer:
        yield tensor.name, numpy_helper.to_array(tensor)
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    yield node.output[0], numpy_helper.to_array(attribute.t)


def _check_attributes(node: onnx.NodeProto) -> str:
    """Refuse what PyTorch's cells do not compute; the RNN's nonlinearity (tanh or relu)."""
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    where = f"{node.op_type} {node.name or node.output[0]!r}"
    direction = attributes.get("direction", b"forward")
    if direction != b"forward":
        raise _Refused(f"{where} runs {direction.decode()}; only forward layers are served")
    for name in ("clip", "activation_alpha", "activation_beta", "input_forget", "layout"):
        if attributes.get(name):
            raise _Refused(f"{where} sets {name}, which PyTorch's cells do not have")
    if len(node.input) > 7 and node.input[7]:
        raise _Refused(f"{where} has peephole weights (P), which PyTorch's LSTM does not have")
    activations = [a.decode() for a in attributes.get("activations", [])]
    if node.op_type == "GRU" and attributes.get("linear_before_reset", 0) != 1:
        raise _Refused(f"{where} needs linear_before_reset=1 (PyTorch's GRU)")
    if node.op_type == "RNN":
        if activations not in ([], ["Tanh"], ["Relu"]):
            raise _Refused(f"{where} has activations {activations}; PyTorch's RNN: Tanh or Relu")
        return "relu" if activations == ["Relu"] else "tanh"
    if activations and activations != _ACTIVATIONS[node.op_type]:
        expected = _ACTIVATIONS[node.op_type]
        raise _Refused(f"{where} has activations {activations}; PyTorch's: {expected}")
    return "tanh"


def _layer_tensors(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], cell: Cell, layer: int
) -> dict[str, np.ndarray]:
    """W (1, G*H, in), R (1, G*H, H), B (1, 2*G*H) back to PyTorch's names and gate order."""
    where = f"{node.op_type} {node.name or node.output[0]!r}"
    weights = []
    for position, name in ((1, "W"), (2, "R")):
        value = constants.get(node.input[position])
        if value is None or value.ndim != 3 or value.shape[0] != 1:
            raise _Refused(f"{where}: its {name} is no constant of one direction")
        weights.append(value[0])
    rows = weights[1].shape[0]
    bias = constants.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    bias = np.zeros((1, 2 * rows), np.float32) if bias is None else bias
    if bias.shape != (1, 2 * rows):
        raise _Refused(f"{where}: its B is no constant of shape [1, {2 * rows}]")
    prefix = f"{cell}.{{}}_l{layer}"
    parts = {"weight_ih": weights[0], "weight_hh": weights[1],
             "bias_ih": bias[0, :rows], "bias_hh": bias[0, rows:]}  # fmt: skip
    if rows % {"lstm": 4, "gru": 3, "rnn": 1}[cell]:
        raise _Refused(f"{where}: {rows} gate rows do not split into the {cell}'s gates")
    return {prefix.format(k): reorder_gates(v, cell, inverse=True) for k, v in parts.items()}


def _head(
    graph: onnx.GraphProto, constants: dict[str, np.ndarray], hidden: int
) -> tuple[dict[str, np.ndarray], str]:
    """fc.weight (O, H) and fc.bias (O,) of the linear head, and the graph output that is its
    result: the first output of rank 2 made by a Gemm, a MatMul, or an Add after a MatMul."""
    producers = {output: node for node in graph.node for output in node.output}
    if not any(node.op_type in ("Gemm", "MatMul") for node in graph.node):
        raise _Refused("no linear head (a Gemm, or a MatMul then Add, after the recurrent layers)")
    for output in graph.output:
        if len(output.type.tensor_type.shape.dim) not in (0, 2):  # 0: shape not declared
            continue
        node, bias_name = producers.get(output.name), ""
        if node is not None and node.op_type == "Add":
            first, second = (producers.get(name) for name in node.input)
            linear, bias_name = (
                (first, node.input[1]) if second is None else (second, node.input[0])
            )
            node = linear if linear is not None and linear.op_type == "MatMul" else None
        if node is None or node.op_type not in ("Gemm", "MatMul"):
            continue
        if node.op_type == "Gemm" and len(node.input) > 2:
            bias_name = node.input[2]
        weight = _head_weight(node, constants, hidden)
        bias = constants.get(bias_name) if bias_name else np.zeros(weight.shape[0], np.float32)
        if bias is None or bias.size != weight.shape[0]:
            raise _Refused(f"the head's bias is no constant of {weight.shape[0]} values")
        return {"fc.weight": weight, "fc.bias": np.reshape(bias, -1)}, output.name
    raise _Refused("the head's result is not the graph's output (operators follow it)")


def _head_weight(node: onnx.NodeProto, constants: dict[str, np.ndarray], hidden: int) -> np.ndarray:
    """The head's weight as fc.weight (O, H)."""
    weight = constants.get(node.input[1])
    if weight is None or weight.ndim != 2:
        raise _Refused(f"the head {node.op_type} has no constant weight matrix")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    plain = (attributes.get("transA", 0), attributes.get("alpha", 1.0), attributes.get("beta", 1.0))
    if plain != (0, 1.0, 1.0):
        raise _Refused("the head Gemm scales or transposes its input; not a plain linear layer")
    weight = weight if attributes.get("transB", 0) else weight.T  # (O, H)
    if weight.shape[1] != hidden:
        raise _Refused(f"the head reads {weight.shape[1]} features, the last layer has {hidden}")
    return weight


def _metadata(model: onnx.ModelProto) -> dict[str, Any]:
    """The training summary and provenance of a file lstm-serve exported (not its config or
    scaling: the graph says those)."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    try:
        header = json.loads(props.get(METADATA_KEY, "{}"))
    except ValueError:
        return {}
    if not isinstance(header, dict):
        return {}
    return {key: value for key, value in header.items() if key not in _HEADER_KEYS}


def _check_same_outputs(model: onnx.ModelProto, checkpoint: Checkpoint, output: str) -> None:
    """Run the file and the model read from it on one random batch of full-length sequences
    from zero state: the file's `output` must equal the model's predictions."""
    import onnxruntime as ort

    from model.onnx_predictor import OnnxPredictor

    config = checkpoint.config
    rng = np.random.default_rng(0)
    x = rng.normal(size=(_CHECK_BATCH, _CHECK_STEPS, config.input_size)).astype(np.float32)
    try:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        theirs = session.run([output], _feed(session, _sequence_input(model), x))[0]
    except Exception as exc:  # onnxruntime raises its own types, for any failure to run
        raise _Refused(f"onnxruntime cannot run it on a batch of sequences ({exc})") from exc
    lengths = np.full(_CHECK_BATCH, _CHECK_STEPS)
    ours = OnnxPredictor(checkpoint).forward(x, lengths, None, False).predictions
    same = np.shape(theirs) == ours.shape and np.allclose(
        theirs, ours, atol=_CHECK_TOLERANCE, rtol=_CHECK_TOLERANCE
    )
    if not same:
        raise _Refused(
            "its output is not that of its recurrent layers and linear head alone (checked on "
            "a random batch): the graph computes something more"
        )


def _sequence_input(model: onnx.ModelProto) -> str:
    """The graph input that reaches the first recurrent operator's X (through a Transpose, say)."""
    producers = {output: node for node in model.graph.node for output in node.output}
    first = next(node for node in model.graph.node if node.op_type in _CELLS)
    inputs = {value.name for value in model.graph.input}
    pending, seen = [first.input[0]], set()
    while pending:
        name = pending.pop()
        if name in inputs:
            return str(name)
        if name in seen or name not in producers:
            continue
        seen.add(name)
        pending.extend(producers[name].input)
    raise _Refused("no graph input reaches the first recurrent layer's sequence")


def _feed(session: Any, sequences: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """x (B, T, F) batch first for the sequence input; every other input (sequence lengths,
    initial states) as the neutral value: full lengths, zero states, batch size B."""
    batch, steps = x.shape[:2]
    feed = {}
    for value in session.get_inputs():
        if value.name == sequences:
            feed[value.name] = x
            continue
        shape = [dim if isinstance(dim, int) else batch for dim in value.shape]
        if "int" in value.type:
            dtype = np.int64 if "int64" in value.type else np.int32
            feed[value.name] = np.full(shape, steps, dtype=dtype)
        else:
            feed[value.name] = np.zeros(shape, dtype=np.float32)
    return feed
