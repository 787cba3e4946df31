"""A checkpoint as a standard ONNX file, without torch: the graph of `model/onnx_graph.py` with
the checkpoint's scaling folded into the weights, so the file is a plain regressor in the user's
units that any ONNX runtime serves as it is, and the checkpoint's metadata in `metadata_props`.

Folding is exact arithmetic (done in float64, stored in float32): the input scaling
x' = (x - mean) / std enters the first layer only through W_ih x' + b_ih, which equals
(W_ih / std) x + (b_ih - W_ih (mean / std)); the target scaling y = y' std + mean is linear in
fc, so it becomes fc.weight * std and fc.bias * std + mean. The hidden states are those of the
model itself, so states exported and states served are the same numbers."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx

from model.checkpoint import FORMAT_VERSION, METADATA_KEY, Checkpoint
from model.onnx_graph import build_graph
from model.scaling import Scaler

FORMATS = ("onnx",)  # what `export` writes
MEDIA_TYPE = "application/onnx"


def fold_scaling(checkpoint: Checkpoint) -> Checkpoint:
    """The same model in user units: scaling folded into the first layer and fc, identity
    scalers."""
    config, tensors = checkpoint.config, dict(checkpoint.tensors)
    inputs, targets = checkpoint.input_scaler, checkpoint.target_scaler
    cell = config.cell
    weight_ih = tensors[f"{cell}.weight_ih_l0"].astype(np.float64)  # (G*H, F)
    bias_ih = tensors[f"{cell}.bias_ih_l0"].astype(np.float64)  # (G*H,)
    tensors[f"{cell}.weight_ih_l0"] = (weight_ih / inputs.std).astype(np.float32)
    tensors[f"{cell}.bias_ih_l0"] = (bias_ih - weight_ih @ (inputs.mean / inputs.std)).astype(
        np.float32
    )
    fc_weight = tensors["fc.weight"].astype(np.float64)  # (O, H)
    fc_bias = tensors["fc.bias"].astype(np.float64)  # (O,)
    tensors["fc.weight"] = (fc_weight * targets.std[:, None]).astype(np.float32)
    tensors["fc.bias"] = (fc_bias * targets.std + targets.mean).astype(np.float32)
    identity_in, identity_out = Scaler.identity(inputs.size), Scaler.identity(targets.size)
    return replace(
        checkpoint, tensors=tensors, input_scaler=identity_in, target_scaler=identity_out
    )


def export_onnx(checkpoint: Checkpoint, name: str = "lstm_serve") -> bytes:
    """The ONNX file's bytes: the folded model, its per-step output too, and under
    `metadata_props` the checkpoint's header (`lstm_serve`: JSON as in a checkpoint's, its
    scaling marked folded) with `cell` and `scaling` spelled out for other tools."""
    model = build_graph(fold_scaling(checkpoint), with_steps=True, name=name)
    model.doc_string = (
        f"{checkpoint.config.cell} regressor exported by lstm-serve; inputs and outputs in the "
        "user's units (the scaling is folded into the weights)"
    )
    onnx.helper.set_model_props(model, _props(checkpoint))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _props(checkpoint: Checkpoint) -> dict[str, str]:
    header = {
        **checkpoint.metadata,
        "format_version": FORMAT_VERSION,
        "config": checkpoint.config.to_dict(),
        # Kept for the record: the weights already include them.
        "scaling": "folded",
        "input_scaling": checkpoint.input_scaler.to_dict(),
        "target_scaling": checkpoint.target_scaler.to_dict(),
    }
    return {
        METADATA_KEY: json.dumps(header),
        "cell": checkpoint.config.cell,
        "scaling": "folded into the weights: inputs and outputs in the user's units",
    }
