"""`lstm-serve predict`: a JSON or .npz file in, predictions as JSON out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.cli import Subparsers
from model.backends import BACKENDS, Backend, predictor_class
from model.checkpoint import load_checkpoint
from model.errors import InvalidInput
from model.inference import Predictor, pad_sequences


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict with a checkpoint",
        description='Predict from FILE: JSON {"inputs": [[[...], ...], ...], "state": ...} '
        "as in POST /v1/predict, or .npz with `inputs` (B, T, F) and optional `lengths`. "
        "Prints the predictions as JSON.",
    )
    parser.add_argument("--model", type=Path, required=True, help=".safetensors or .pt")
    parser.add_argument("--input", type=Path, required=True, help=".json or .npz")
    parser.add_argument("--return-state", action="store_true", help="include final h and c")
    parser.add_argument("--return-sequence", action="store_true", help="include every step")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(predict_file(args)))
    return 0


def predict_file(args: argparse.Namespace) -> dict[str, Any]:
    predictor = _predictor(args.model, args.backend)
    x, lengths, state = _read_input(args.input)
    result = predictor.predict(x, lengths, state, return_steps=args.return_sequence)
    output: dict[str, Any] = {"predictions": result.predictions.tolist()}
    if args.return_state:
        output["state"] = {"h": result.h.tolist()}
        if result.c is not None:  # an LSTM's cell state; a GRU or an RNN has none
            output["state"]["c"] = result.c.tolist()
    if result.steps is not None:
        output["sequence"] = [steps.tolist() for steps in result.steps]
    return output


def _predictor(path: Path, backend: Backend) -> Predictor:
    return predictor_class(backend)(load_checkpoint(path))


StateArrays = tuple[np.ndarray, np.ndarray] | None


def _read_input(path: Path) -> tuple[np.ndarray, np.ndarray, StateArrays]:
    """(B, T, F) padded inputs, (B,) lengths, optional (h, c) of (L, B, H)."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", ("input",))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if "inputs" not in archive:
                raise InvalidInput(f"{path}: no array named 'inputs'", ("inputs",))
            x = np.asarray(archive["inputs"], dtype=np.float32)
            lengths = archive.get("lengths")
        if x.ndim != 3:
            raise InvalidInput(f"inputs must be (B, T, F), got {list(x.shape)}", ("inputs",))
        if lengths is None:
            lengths = np.full(x.shape[0], x.shape[1])
        return x, np.asarray(lengths, dtype=np.int64), None
    return _read_json(path)


def _read_json(path: Path) -> tuple[np.ndarray, np.ndarray, StateArrays]:
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})", ()) from exc
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidInput('expected {"inputs": [sequence, ...]} with at least one sequence', ())
    sequences = [_sequence(seq, index) for index, seq in enumerate(body["inputs"])]
    x, lengths = pad_sequences(sequences)
    state = body.get("state")
    if state is None:
        return x, lengths, None
    try:
        h = np.asarray(state["h"], dtype=np.float32)
        c = np.asarray(state["c"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("state needs numeric arrays h and c", ("state",)) from exc
    return x, lengths, (h, c)


def _sequence(values: object, index: int) -> np.ndarray:
    try:
        seq = np.asarray(values, dtype=np.float32)  # (T, F)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"sequence {index} is not a list of numeric steps", ("inputs", index)
        ) from exc
    if seq.ndim != 2 or seq.shape[0] == 0:
        raise InvalidInput(f"sequence {index} must be a non-empty list of steps", ("inputs", index))
    if not np.isfinite(seq).all():
        step = int(np.argwhere(~np.isfinite(seq))[0][0])
        raise InvalidInput(f"sequence {index} has a non-finite value", ("inputs", index, step))
    return seq
