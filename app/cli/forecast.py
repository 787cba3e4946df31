"""`lstm-serve forecast`: a series model rolled forward from a history file, with its
intervals, as POST /v1/forecast answers (JSON on stdout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.cli import Subparsers
from model.backends import BACKENDS, predictor_class
from model.checkpoint import load_checkpoint
from model.conformal import checkpoint_intervals, level_key
from model.data import read_csv_series, series_array
from model.errors import InvalidInput
from model.forecast import roll_forward, windows_predictor
from model.series_task import SeriesTask, forecasting_task


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "forecast",
        help="forecast the next steps of a series",
        description="Roll a model trained on a series forward HORIZON steps after the history "
        "in FILE, feeding its predictions back, with split-conformal prediction intervals. "
        "FILE: a CSV (the model's input columns by name, or every numeric column), an .npy "
        'array, or JSON ([[...], ...] or {"history": ...}); rows are steps, in the user\'s '
        "units. Prints JSON as POST /v1/forecast answers.",
    )
    parser.add_argument("--model", type=Path, required=True, help=".safetensors")
    parser.add_argument("--history", type=Path, required=True, help=".csv, .npy or .json")
    parser.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    parser.add_argument(
        "--levels", type=float, nargs="+", default=[80.0, 95.0], help="interval levels, percent"
    )
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(forecast_file(args)))
    return 0


def forecast_file(args: argparse.Namespace) -> dict[str, Any]:
    if args.horizon < 1:
        raise InvalidInput(f"--horizon must be at least 1, got {args.horizon}", ("horizon",))
    for level in args.levels:
        if not 0 < level < 100:
            raise InvalidInput(f"--levels must lie in (0, 100), got {level:g}", ("levels",))
    checkpoint = load_checkpoint(args.model)
    task = forecasting_task(checkpoint.metadata)
    history = _read_history(args.history, task).astype(np.float64)  # (T, F)
    if history.shape[1] != checkpoint.config.input_size:
        raise InvalidInput(
            f"{args.history}: rows have {history.shape[1]} values; the model reads "
            f"{checkpoint.config.input_size}",
            ("history",),
        )
    predict = windows_predictor(predictor_class(args.backend)(checkpoint))
    path = roll_forward(predict, history[None], task, args.horizon)[0]
    bands, note = checkpoint_intervals(checkpoint.metadata, path, args.levels)
    return {
        "forecast": path.tolist(),
        "intervals": {
            level_key(level): {"lower": lower.tolist(), "upper": upper.tolist()}
            for level, (lower, upper) in bands.items()
        },
        "note": note,
    }


def _read_history(path: Path, task: SeriesTask) -> np.ndarray:
    """(T, F) float32, finite."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", ("history",))
    if path.suffix == ".csv":
        named = all(isinstance(column, str) for column in task.input_columns)
        columns = [str(column) for column in task.input_columns] if named else None
        _, values = read_csv_series(path, columns)
        return series_array(values, "history")
    if path.suffix == ".npy":
        return series_array(np.load(path, allow_pickle=False), "history")
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})", ("history",)) from exc
    return series_array(body["history"] if isinstance(body, dict) else body, "history")
