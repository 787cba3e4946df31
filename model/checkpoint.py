"""Checkpoints: `.safetensors` files whose header metadata holds the JSON config, the scaling of
inputs and targets, and a training summary. Loading never unpickles anything; plain PyTorch
`state_dict` `.pt` files of the classic model are imported with `torch.load(weights_only=True)`.
This module reads and writes without torch, so the NumPy backend serves torch-free."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from model.config import CELLS, GATES, Cell, LSTMConfig
from model.errors import CheckpointError, InvalidInput
from model.files import atomic_write_bytes
from model.scaling import Scaler

FORMAT_VERSION = 1
METADATA_KEY = "lstm_serve"
_LAYER_KEY = re.compile(r"^(lstm|gru|rnn)\.weight_ih_l(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    config: LSTMConfig
    tensors: dict[str, np.ndarray]  # state-dict key -> float32 array, PyTorch layout
    input_scaler: Scaler
    target_scaler: Scaler
    metadata: dict[str, Any] = field(default_factory=dict)  # training summary, provenance

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, np.ndarray], source: str = "", nonlinearity: str = "tanh"
    ) -> Checkpoint:
        """Wrap raw weights: architecture from their shapes, identity scaling."""
        config = infer_config(tensors, source, nonlinearity)
        checked = checked_tensors(tensors, config, source)
        return cls(
            config, checked, Scaler.identity(config.input_size), Scaler.identity(config.output_size)
        )

    def with_metadata(self, **entries: Any) -> Checkpoint:
        return replace(self, metadata={**self.metadata, **entries})

    @property
    def parameter_count(self) -> int:
        return int(sum(t.size for t in self.tensors.values()))


def expected_shapes(config: LSTMConfig) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of the model: the recurrent layers under the cell's name
    (`lstm.`, `gru.`, `rnn.`, as nn.LSTM, nn.GRU and nn.RNN name them in a user's class), their
    gate blocks stacked, then the head `fc.`."""
    prefix, gates = config.cell, GATES[config.cell] * config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(config.num_layers):
        layer_input = config.input_size if layer == 0 else config.hidden_size
        shapes[f"{prefix}.weight_ih_l{layer}"] = (gates, layer_input)
        shapes[f"{prefix}.weight_hh_l{layer}"] = (gates, config.hidden_size)
        shapes[f"{prefix}.bias_ih_l{layer}"] = (gates,)
        shapes[f"{prefix}.bias_hh_l{layer}"] = (gates,)
    shapes["fc.weight"] = (config.output_size, config.hidden_size)
    shapes["fc.bias"] = (config.output_size,)
    return shapes


def infer_config(
    tensors: dict[str, np.ndarray], source: str = "", nonlinearity: str = "tanh"
) -> LSTMConfig:
    """Read the architecture off the tensor shapes of a plain state_dict: the cell from the
    recurrent layers' prefix, checked against their gate rows (4H, 3H or H). A relu RNN's
    weights look like a tanh RNN's: `nonlinearity` says which it is."""
    found = {match.group(1) for key in tensors if (match := _LAYER_KEY.match(key))}
    if len(found) != 1:
        named = ", ".join(f"{cell}." for cell in CELLS)
        raise CheckpointError(
            source,
            f"no recurrent weights (weight_ih_l0 under one of {named}); not a recurrent "
            "regressor this service knows (nn.LSTM, nn.GRU or nn.RNN, then nn.Linear as fc)"
            if not found
            else f"weights of several cells ({', '.join(sorted(found))}); one model has one",
        )
    cell: Cell = found.pop()  # type: ignore[assignment]
    layers = sorted(int(m.group(2)) for key in tensors if (m := _LAYER_KEY.match(key)))
    for required in (f"{cell}.weight_ih_l0", f"{cell}.weight_hh_l0", "fc.weight"):
        if required not in tensors:
            raise CheckpointError(source, f"missing key {required!r}; not a classic {cell} model")
    weight_ih, weight_hh = tensors[f"{cell}.weight_ih_l0"], tensors[f"{cell}.weight_hh_l0"]
    fc_weight = tensors["fc.weight"]
    if weight_ih.ndim != 2 or weight_hh.ndim != 2 or fc_weight.ndim != 2:
        raise CheckpointError(source, f"{cell} and fc weights must be matrices")
    hidden = int(weight_hh.shape[1])
    if weight_hh.shape[0] != GATES[cell] * hidden:
        raise CheckpointError(
            source,
            f"{cell}.weight_hh_l0 has {weight_hh.shape[0]} rows; an {cell} of hidden size "
            f"{hidden} has {GATES[cell]} x {hidden} (its gate blocks)",
        )
    try:
        return LSTMConfig(
            input_size=int(weight_ih.shape[1]),
            hidden_size=hidden,
            num_layers=len(layers),
            output_size=int(fc_weight.shape[0]),
            cell=cell,
            nonlinearity=nonlinearity if cell == "rnn" else "tanh",  # type: ignore[arg-type]
        )
    except InvalidInput as exc:
        raise CheckpointError(source, f"inconsistent shapes: {exc}") from exc


def checked_tensors(
    tensors: dict[str, np.ndarray], config: LSTMConfig, source: str = ""
) -> dict[str, np.ndarray]:
    """Exactly the expected keys, shapes and finite values; returned as contiguous float32."""
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing:
        raise CheckpointError(source, f"missing keys: {', '.join(missing)}")
    if extra:
        raise CheckpointError(source, f"unexpected keys: {', '.join(extra)}")
    checked: dict[str, np.ndarray] = {}
    for key, shape in expected.items():
        array = np.asarray(tensors[key])
        if array.shape != shape:
            raise CheckpointError(
                source, f"inconsistent shapes: {key} is {list(array.shape)}, expected {list(shape)}"
            )
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise CheckpointError(source, f"{key} must hold finite floating-point values")
        checked[key] = np.ascontiguousarray(array, dtype=np.float32)
    return checked


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> None:
    """Write atomically: temp file, fsync, rename."""
    # Metadata may carry its own created_at (re-saving then gives identical bytes), but never
    # the format version or the fields the file's meaning depends on.
    header = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **checkpoint.metadata,
        "format_version": FORMAT_VERSION,
        "config": checkpoint.config.to_dict(),
        "input_scaling": checkpoint.input_scaler.to_dict(),
        "target_scaling": checkpoint.target_scaler.to_dict(),
    }
    data = safetensors.numpy.save(checkpoint.tensors, metadata={METADATA_KEY: json.dumps(header)})
    atomic_write_bytes(path, data)


def load_checkpoint(path: str | Path, nonlinearity: str = "tanh") -> Checkpoint:
    """Load a `.safetensors` checkpoint, or import a plain state_dict `.pt` file (or weights
    without our metadata), whose RNN is a `nonlinearity` one, or an `.onnx` file's recurrent
    regressor (its RNN's activation is in the file)."""
    source = str(path)
    if Path(path).is_dir():
        raise CheckpointError(source, "is a directory, not a checkpoint file")
    if not Path(path).is_file():
        raise CheckpointError(source, "no such file")
    if Path(path).suffix == ".onnx":
        from model.onnx_import import read_onnx  # onnx only for .onnx files

        return read_onnx(path)
    if Path(path).suffix in (".pt", ".pth"):
        from model.torch_import import read_state_dict  # torch only for .pt files

        tensors = read_state_dict(path)
        imported = Checkpoint.from_tensors(tensors, source, nonlinearity)
        return imported.with_metadata(imported_from=Path(path).name)
    try:
        with safetensors.safe_open(source, framework="numpy") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(source, f"corrupt or truncated safetensors file ({exc})") from exc
    if METADATA_KEY not in header:
        return Checkpoint.from_tensors(tensors, source, nonlinearity)  # saved by another tool
    return _from_header(header[METADATA_KEY], tensors, source)


def checkpoint_scalers(path: str | Path) -> tuple[Scaler, Scaler]:
    """The input and target scaling of a `.safetensors` checkpoint of ours, from its header
    alone (the tensors are not read)."""
    source = str(path)
    try:
        with safetensors.safe_open(source, framework="numpy") as handle:
            header = json.loads((handle.metadata() or {})[METADATA_KEY])
        config = LSTMConfig.from_dict(header["config"])
        return (
            Scaler.from_dict(header["input_scaling"], config.input_size, "input"),
            Scaler.from_dict(header["target_scaling"], config.output_size, "target"),
        )
    except (safetensors.SafetensorError, OSError, ValueError, KeyError, TypeError,
            InvalidInput) as exc:  # fmt: skip
        raise CheckpointError(source, f"invalid metadata header ({exc!s})") from exc


def _from_header(raw: str, tensors: dict[str, np.ndarray], source: str) -> Checkpoint:
    try:
        header = json.loads(raw)
        version = header.pop("format_version")
        config = LSTMConfig.from_dict(header.pop("config"))
        input_scaler = Scaler.from_dict(header.pop("input_scaling"), config.input_size, "input")
        target_scaler = Scaler.from_dict(header.pop("target_scaling"), config.output_size, "target")
    except (ValueError, KeyError, TypeError, AttributeError, InvalidInput) as exc:
        raise CheckpointError(source, f"invalid metadata header ({exc!s})") from exc
    if version != FORMAT_VERSION:
        raise CheckpointError(source, f"unsupported format version {version!r}")
    checked = checked_tensors(tensors, config, source)
    return Checkpoint(config, checked, input_scaler, target_scaler, header)
