"""The classic recurrent regressor as a standard ONNX graph, built from a checkpoint's tensors
with the `onnx` package alone (no torch): one ONNX LSTM, GRU or RNN operator per layer, chained
through Squeeze, then the head `fc` as Gemm on the top layer's final state. Any ONNX runtime knows
these operators; `model/onnx_predictor.py` runs the graph, `model/onnx_export.py` writes it.

The graph in model units: scaling is the caller's (the ONNX backend's Predictor applies the
checkpoint's; an export folds it into the weights first, `model/onnx_export.fold_scaling`).

Inputs (B and T dynamic):
    input          (B, T, input_size) float32, batch first like the PyTorch model
    sequence_lens  (B,) int32, each sequence's length (1..T); steps past it are never read
    initial_h      (num_layers, B, hidden_size) float32
    initial_c      (num_layers, B, hidden_size) float32, an LSTM's only
Outputs:
    prediction     (B, output_size): fc of each sequence's top-layer state at its last step
    Y_h, Y_c       (num_layers, B, hidden_size): final states (Y_c an LSTM's only)
    steps          (B, T, output_size), with `with_steps`: fc at every step (past a sequence's
                   length: fc of zeros, i.e. the bias)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model.checkpoint import Checkpoint
from model.config import Cell, LSTMConfig

OPSET = 17  # LSTM, GRU, RNN, Squeeze with axes as an input: every runtime of the last years
IR_VERSION = 8  # the IR of opset 17, so runtimes older than this `onnx` package load the file
OPERATORS: dict[Cell, str] = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
# Row blocks of PyTorch's gate matrices, reordered to ONNX's: the LSTM's (i, f, g, o) become
# ONNX's (i, o, f, c); the GRU's (r, z, n) become (z, r, h); an RNN has one block.
GATE_ORDER: dict[Cell, tuple[int, ...]] = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
# Names of the graph's inputs and outputs: the ONNX operators' own, so a runtime's user knows them.
INPUT, LENGTHS, INITIAL_H, INITIAL_C = "input", "sequence_lens", "initial_h", "initial_c"
PREDICTION, FINAL_H, FINAL_C, STEPS = "prediction", "Y_h", "Y_c", "steps"


def reorder_gates(weight: np.ndarray, cell: Cell, inverse: bool = False) -> np.ndarray:
    """Row blocks of a (G*H, ...) or (G*H,) array from PyTorch's gate order to ONNX's (or back)."""
    order = GATE_ORDER[cell]
    if inverse:
        order = tuple(int(i) for i in np.argsort(order))
    blocks = np.split(weight, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def build_graph(
    checkpoint: Checkpoint, with_steps: bool = False, name: str = "lstm_serve"
) -> onnx.ModelProto:
    """The checkpoint's model as an ONNX model, weights as float32 initializers."""
    config, tensors = checkpoint.config, checkpoint.tensors
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = [_ints("axis0", [0]), _ints("axis1", [1])]
    # ONNX's recurrent operators are time-major: (T, B, F).
    nodes.append(helper.make_node("Transpose", [INPUT], ["x_l0"], perm=[1, 0, 2]))
    finals_h, finals_c = [], []
    for layer in range(config.num_layers):
        weights += _layer_weights(config, tensors, layer)
        h0, c0 = _layer_state(nodes, weights, config, layer)
        y, y_h, y_c = f"y_l{layer}", f"y_h_l{layer}", f"y_c_l{layer}"
        outputs = [y, y_h] + ([y_c] if config.has_cell_state else [])
        inputs = [f"x_l{layer}", f"W_l{layer}", f"R_l{layer}", f"B_l{layer}", LENGTHS, h0]
        nodes.append(_recurrent_node(config, inputs + ([c0] if c0 else []), outputs, layer))
        # Y: (T, 1, B, H) -> the next layer's input (T, B, H).
        nodes.append(helper.make_node("Squeeze", [y, "axis1"], [f"x_l{layer + 1}"]))
        finals_h.append(y_h)
        finals_c.append(y_c)
    nodes.append(helper.make_node("Concat", finals_h, [FINAL_H], axis=0))  # (L, B, H)
    if config.has_cell_state:
        nodes.append(helper.make_node("Concat", finals_c, [FINAL_C], axis=0))
    # The head on the top layer's state at each sequence's own last step: (1, B, H) -> (B, O).
    weights.append(numpy_helper.from_array(tensors["fc.weight"], "fc.weight"))  # (O, H)
    weights.append(numpy_helper.from_array(tensors["fc.bias"], "fc.bias"))  # (O,)
    nodes.append(helper.make_node("Squeeze", [finals_h[-1], "axis0"], ["h_top"]))
    nodes.append(helper.make_node("Gemm", ["h_top", "fc.weight", "fc.bias"], [PREDICTION],
                                  transB=1))  # fmt: skip
    if with_steps:
        _add_steps(nodes, weights, config.num_layers)
    graph = helper.make_graph(
        nodes, name, _graph_inputs(config), _graph_outputs(config, with_steps), weights
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    model.producer_name = "lstm-serve"
    return model


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _layer_weights(
    config: LSTMConfig, tensors: dict[str, np.ndarray], layer: int
) -> list[onnx.TensorProto]:
    """W (1, G*H, in), R (1, G*H, H) and B (1, 2*G*H) = [bias_ih, bias_hh], ONNX's gate order;
    the leading 1 is the operator's num_directions."""
    cell, prefix = config.cell, f"{config.cell}.{{}}_l{layer}"

    def onnx_order(key: str) -> np.ndarray:
        return reorder_gates(tensors[prefix.format(key)], cell).astype(np.float32)

    bias = np.concatenate([onnx_order("bias_ih"), onnx_order("bias_hh")])
    return [
        numpy_helper.from_array(onnx_order("weight_ih")[None], f"W_l{layer}"),
        numpy_helper.from_array(onnx_order("weight_hh")[None], f"R_l{layer}"),
        numpy_helper.from_array(bias[None], f"B_l{layer}"),
    ]


def _layer_state(
    nodes: list[onnx.NodeProto], weights: list[onnx.TensorProto], config: LSTMConfig, layer: int
) -> tuple[str, str | None]:
    """This layer's initial h (and c) as (1, B, H): a slice of the (L, B, H) inputs."""
    if config.num_layers == 1:
        return INITIAL_H, INITIAL_C if config.has_cell_state else None
    weights += [_ints(f"start_l{layer}", [layer]), _ints(f"end_l{layer}", [layer + 1])]
    sliced = []
    for source in (INITIAL_H, INITIAL_C) if config.has_cell_state else (INITIAL_H,):
        name = f"{source}_l{layer}"
        bounds = [f"start_l{layer}", f"end_l{layer}", "axis0"]
        nodes.append(helper.make_node("Slice", [source, *bounds], [name]))
        sliced.append(name)
    return sliced[0], sliced[1] if config.has_cell_state else None


def _recurrent_node(
    config: LSTMConfig, inputs: list[str], outputs: list[str], layer: int
) -> onnx.NodeProto:
    """The layer's operator, its attributes chosen to compute exactly what PyTorch's does."""
    attributes: dict[str, Any] = {"hidden_size": config.hidden_size, "direction": "forward"}
    if config.cell == "gru":
        # PyTorch applies the reset gate after the hidden-state product (b_hn inside r * (...)).
        attributes["linear_before_reset"] = 1
    if config.cell == "rnn":
        attributes["activations"] = ["Relu" if config.nonlinearity == "relu" else "Tanh"]
    return helper.make_node(
        OPERATORS[config.cell], inputs, outputs, name=f"{config.cell}_l{layer}", **attributes
    )


def _add_steps(
    nodes: list[onnx.NodeProto], weights: list[onnx.TensorProto], num_layers: int
) -> None:
    """fc at every step of the top layer's output: (T, B, H) -> (B, T, O)."""
    nodes.append(helper.make_node("Transpose", [f"x_l{num_layers}"], ["top_steps"], perm=[1, 0, 2]))
    nodes.append(helper.make_node("Transpose", ["fc.weight"], ["fc.weight_t"], perm=[1, 0]))
    nodes.append(helper.make_node("MatMul", ["top_steps", "fc.weight_t"], ["steps_no_bias"]))
    nodes.append(helper.make_node("Add", ["steps_no_bias", "fc.bias"], [STEPS]))


def _graph_inputs(config: LSTMConfig) -> list[onnx.ValueInfoProto]:
    float32 = TensorProto.FLOAT
    state: list[str | int | None] = [config.num_layers, "batch", config.hidden_size]
    inputs = [
        helper.make_tensor_value_info(INPUT, float32, ["batch", "steps", config.input_size]),
        helper.make_tensor_value_info(LENGTHS, TensorProto.INT32, ["batch"]),
        helper.make_tensor_value_info(INITIAL_H, float32, state),
    ]
    if config.has_cell_state:
        inputs.append(helper.make_tensor_value_info(INITIAL_C, float32, state))
    return inputs


def _graph_outputs(config: LSTMConfig, with_steps: bool) -> list[onnx.ValueInfoProto]:
    float32 = TensorProto.FLOAT
    state: list[str | int | None] = [config.num_layers, "batch", config.hidden_size]
    outputs = [
        helper.make_tensor_value_info(PREDICTION, float32, ["batch", config.output_size]),
        helper.make_tensor_value_info(FINAL_H, float32, state),
    ]
    if config.has_cell_state:
        outputs.append(helper.make_tensor_value_info(FINAL_C, float32, state))
    if with_steps:
        outputs.append(
            helper.make_tensor_value_info(STEPS, float32, ["batch", "steps", config.output_size])
        )
    return outputs
