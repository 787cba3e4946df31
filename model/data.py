"""Training data for the LSTM: validated float32 arrays, loaded from inline lists, .npz or a CSV
time series, and split into training and validation sets. NumPy only, so it loads anywhere.

Every problem with the data raises `InvalidInput` with a location that points at the offending
element, e.g. ("inputs", 3, 7, 0) for a NaN in sample 3, step 7, feature 0, or
("series", 12, "price") for a bad cell in CSV data row 12 (0-based, header not counted).
"""

from __future__ import annotations

import csv
import math
import numbers
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from model.errors import InvalidInput

Location = tuple[str | int, ...]
FloatArray = npt.NDArray[np.float32]
PathLike = str | Path

# Dimension names used in messages; targets may also arrive as (N,) for a single output.
_DIMS = {"inputs": "(N, T, input_size)", "targets": "(N, output_size)", "series": "(rows, F)"}


@dataclass(frozen=True)
class SequenceData:
    """N training samples: a sequence of T steps in, one vector out. Always valid once built."""

    inputs: FloatArray  # (N, T, input_size) float32, finite
    targets: FloatArray  # (N, output_size) float32, finite
    source: str = "inline"  # where the samples came from, kept for provenance

    def __post_init__(self) -> None:
        _check_array(self.inputs, "inputs", 3)
        _check_array(self.targets, "targets", 2)
        n_in, n_out = self.inputs.shape[0], self.targets.shape[0]
        if n_in != n_out:
            raise InvalidInput(
                f"inputs has {n_in} samples but targets has {n_out}; they must match",
                ("targets",),
            )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def summary(self) -> dict[str, Any]:
        n, steps, input_size = self.inputs.shape
        return {
            "n": int(n),
            "steps": int(steps),
            "input_size": int(input_size),
            "output_size": int(self.targets.shape[1]),
            "source": self.source,
        }


# --- building from arrays ------------------------------------------------------------------


def from_arrays(inputs: object, targets: object, source: str = "inline") -> SequenceData:
    """Build from nested lists or arrays: inputs (N, T, input_size), targets (N, output_size).

    Targets of shape (N,) are taken as one output per sample, i.e. (N, 1).
    """
    x = _to_float32(inputs, "inputs", (3,))  # (N, T, input_size)
    y = _to_float32(targets, "targets", (1, 2))  # (N, output_size) or (N,)
    if y.ndim == 1:
        y = y[:, None]  # (N,) -> (N, 1)
    return SequenceData(x, y, source)


def make_windows(
    series: object,
    window: int,
    horizon: int = 1,
    target_columns: Sequence[int] | None = None,
    source: str = "inline",
) -> SequenceData:
    """Sliding windows over a time series of shape (rows, F) (or (rows,) for one feature).

    Sample i has inputs series[i : i + window] (all F columns) and target
    series[i + window - 1 + horizon, target_columns]: the row `horizon` steps after the window's
    last row. target_columns defaults to the last column.
    """
    values = _to_float32(series, "series", (1, 2))
    if values.ndim == 1:
        values = values[:, None]  # (rows,) -> (rows, 1)
    rows, features = values.shape
    _check_positive_int(window, "window")
    _check_positive_int(horizon, "horizon")
    targets_at = _check_target_indices(target_columns, features)
    needed = window + horizon
    if rows < needed:
        raise InvalidInput(
            f"series has {rows} rows but window={window} and horizon={horizon} need at least "
            f"{needed}",
            ("series",),
        )
    n = rows - needed + 1
    # sliding_window_view puts the window axis last: (rows - window + 1, F, window).
    views = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[:n]
    inputs = np.ascontiguousarray(views.transpose(0, 2, 1))  # (n, window, F)
    targets = values[window - 1 + horizon :][:n][:, targets_at]  # (n, len(targets_at))
    return SequenceData(inputs, np.ascontiguousarray(targets), source)


# --- loading files -------------------------------------------------------------------------


def load_npz(path: PathLike) -> SequenceData:
    """Read arrays named `inputs` (N, T, input_size) and `targets` (N, output_size) or (N,)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
            arrays = {name: archive[name] for name in ("inputs", "targets") if name in names}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{path}: cannot read as .npz: {exc}", ("path",)) from exc
    for name in ("inputs", "targets"):
        if name not in arrays:
            found = ", ".join(names) or "none"
            raise InvalidInput(f"{path}: missing array '{name}' (found: {found})", (name,))
    return from_arrays(arrays["inputs"], arrays["targets"], source=str(path))


def read_csv_series(
    path: PathLike, columns: Sequence[str] | None = None
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Read a CSV with a header row into (column names, values (rows, F) float64).

    `columns` picks columns by name, in that order. By default every numeric column is taken,
    where a column is numeric when its first data row holds a number; after that every chosen
    cell must be a finite number.
    """
    header, rows, lines = _read_csv_rows(path)
    names = _choose_columns(path, header, rows[0], columns)
    index = [header.index(name) for name in names]
    values = np.empty((len(rows), len(names)), dtype=np.float64)  # (rows, F)
    for r, (row, line) in enumerate(zip(rows, lines, strict=True)):
        where = f"{path}: row {r} (line {line})"
        if len(row) != len(header):
            raise InvalidInput(
                f"{where} has {len(row)} cells but the header has {len(header)}", ("series", r)
            )
        for j, i in enumerate(index):
            if not _is_number(row[i]):
                raise InvalidInput(
                    f"{where}, column '{names[j]}': {_describe_cell(row[i])}",
                    ("series", r, names[j]),
                )
            values[r, j] = float(row[i])
    return names, values


def load_csv(
    path: PathLike,
    window: int,
    horizon: int = 1,
    columns: Sequence[str] | None = None,
    target_columns: Sequence[str] | None = None,
) -> SequenceData:
    """Read a CSV time series (see `read_csv_series`) and cut it into sliding windows.

    The chosen `columns` are the input features; `target_columns` (default: the last chosen
    column) must be among them, since the model reads a target's past values as input.
    """
    names, values = read_csv_series(path, columns)  # (rows, F)
    wanted = [names[-1]] if target_columns is None else list(target_columns)
    if not wanted:
        raise InvalidInput("target_columns must name at least one column", ("target_columns",))
    for k, name in enumerate(wanted):
        if name not in names:
            raise InvalidInput(
                f"target column '{name}' is not among the input columns "
                f"({', '.join(names)}); add it to columns",
                ("target_columns", k),
            )
    return make_windows(values, window, horizon, [names.index(n) for n in wanted], str(path))


def load_data(
    path: PathLike,
    window: int | None = None,
    horizon: int = 1,
    columns: Sequence[str] | None = None,
    target_columns: Sequence[str] | None = None,
) -> SequenceData:
    """Load .npz samples or a .csv time series, chosen by the file suffix.

    window, horizon, columns and target_columns apply to CSV only; passing them (or a horizon
    other than 1) for .npz is an error rather than being silently ignored.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        for name, value in (("window", window), ("columns", columns)):
            if value is not None:
                raise InvalidInput(f"{name} applies to CSV files only, not .npz", (name,))
        if target_columns is not None:
            raise InvalidInput("target_columns applies to CSV files only", ("target_columns",))
        if horizon != 1:
            raise InvalidInput("horizon applies to CSV files only, not .npz", ("horizon",))
        return load_npz(path)
    if suffix == ".csv":
        if window is None:
            raise InvalidInput("window is required to cut a CSV series into samples", ("window",))
        return load_csv(path, window, horizon, columns, target_columns)
    raise InvalidInput(f"{path}: unsupported file type '{suffix}'; use .npz or .csv", ("path",))


# --- splitting -----------------------------------------------------------------------------


def split(
    data: SequenceData, validation_split: float, seed: int
) -> tuple[SequenceData, SequenceData]:
    """Random split by samples, reproducible by seed: returns (train, val).

    Use it for independent samples (e.g. one sequence per sample from .npz). Do not use it for
    sliding windows over one series: neighbouring windows share rows, so a random split leaks
    validation values into training; use `chronological_split` there.
    """
    n_val = _validation_count(len(data), validation_split)
    order = np.random.default_rng(seed).permutation(len(data))
    # Sorting keeps each part in the original sample order, which makes them easier to read.
    return (
        _subset(data, np.sort(order[n_val:]), "train"),
        _subset(data, np.sort(order[:n_val]), "validation"),
    )


def chronological_split(
    data: SequenceData, validation_split: float
) -> tuple[SequenceData, SequenceData]:
    """Split off the last fraction of samples as validation: returns (train, val).

    Right for sliding windows over a time series: validation then lies after training in time,
    as it does when the model forecasts.
    """
    n_val = _validation_count(len(data), validation_split)
    cut = len(data) - n_val
    return (
        _subset(data, np.arange(cut), "train"),
        _subset(data, np.arange(cut, len(data)), "validation"),
    )


def _validation_count(n: int, validation_split: float) -> int:
    if isinstance(validation_split, bool) or not 0.0 < float(validation_split) < 1.0:
        raise InvalidInput(
            f"validation_split must be in (0, 1), got {validation_split!r}", ("validation_split",)
        )
    if n < 2:
        raise InvalidInput(f"need at least 2 samples to split, got {n}", ("inputs",))
    # Round to the nearest count, but keep at least one sample on each side.
    return min(max(round(n * float(validation_split)), 1), n - 1)


def _subset(data: SequenceData, index: npt.NDArray[np.intp], part: str) -> SequenceData:
    return SequenceData(data.inputs[index], data.targets[index], f"{data.source} ({part})")


# --- validation helpers --------------------------------------------------------------------


def _to_float32(values: object, name: str, ndims: tuple[int, ...]) -> FloatArray:
    """Nested lists or an array -> float32 array with one of `ndims` dimensions, all finite."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iuf":
            raise InvalidInput(f"{name} must hold numbers, got dtype {values.dtype}", (name,))
        array = values
    else:
        shape = _nested_shape(values, name, ndims)
        _check_nested(values, (name,), shape)
        array = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
        out = array.astype(np.float32)
    _check_array(out, name, *ndims)
    return out


def _nested_shape(values: object, name: str, ndims: tuple[int, ...]) -> tuple[int, ...]:
    """Shape read along the first element at each depth; the full check comes after."""
    shape: list[int] = []
    node = values
    while _is_nested(node):
        shape.append(len(node))
        if len(node) == 0:
            raise InvalidInput(f"{name} is empty", (name,))
        node = node[0]
    if len(shape) not in ndims:
        raise InvalidInput(_dims_message(name, ndims, len(shape)), (name,))
    return tuple(shape)


def _check_nested(node: object, loc: Location, shape: tuple[int, ...]) -> None:
    """Walk nested lists: every list at a depth has the same length, every leaf is a number."""
    if not shape:
        # bool is an int subclass, and numpy would turn "1.5" into a number: refuse both.
        if isinstance(node, bool) or not isinstance(node, numbers.Real):
            raise InvalidInput(f"{_where(loc)} must be a number, got {node!r:.40}", loc)
        return
    if not _is_nested(node) or len(node) != shape[0]:
        got = f"length {len(node)}" if _is_nested(node) else f"{node!r:.40}"
        raise InvalidInput(f"{_where(loc)} must be a list of length {shape[0]}, got {got}", loc)
    for i, child in enumerate(node):
        _check_nested(child, (*loc, i), shape[1:])


def _is_nested(node: object) -> TypeGuard[Sequence[object] | npt.NDArray[Any]]:
    """A list level of nested inputs; a list of per-sample arrays is fine too."""
    return isinstance(node, list | tuple) or (isinstance(node, np.ndarray) and node.ndim > 0)


def _check_array(array: object, name: str, *ndims: int) -> None:
    """An array that is float32, has one of `ndims` dimensions, is not empty and is finite."""
    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
        raise InvalidInput(f"{name} must be a float32 array; build it with from_arrays", (name,))
    if array.ndim not in ndims:
        raise InvalidInput(_dims_message(name, ndims, array.ndim), (name,))
    if array.size == 0:
        raise InvalidInput(f"{name} is empty (shape {array.shape})", (name,))
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        loc: Location = (name, *(int(i) for i in bad[0]))
        value = array[tuple(bad[0])]
        raise InvalidInput(
            f"{_where(loc)} is {value}; values must be finite (and within float32 range)", loc
        )


def _dims_message(name: str, ndims: tuple[int, ...], got: int) -> str:
    allowed = " or ".join(str(d) for d in ndims)
    return f"{name} must have {allowed} dimensions {_DIMS.get(name, '')}, got {got}".strip()


def _where(loc: Location) -> str:
    """("inputs", 3, 7) -> "inputs[3, 7]"."""
    name, *index = loc
    return f"{name}[{', '.join(str(i) for i in index)}]" if index else str(name)


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {value!r}", (name,))


def _check_target_indices(target_columns: Sequence[int] | None, features: int) -> list[int]:
    if target_columns is None:
        return [features - 1]
    chosen = list(target_columns)
    if not chosen:
        raise InvalidInput("target_columns must name at least one column", ("target_columns",))
    for k, col in enumerate(chosen):
        if isinstance(col, bool) or not isinstance(col, int) or not 0 <= col < features:
            raise InvalidInput(
                f"target column {col!r} is out of range for a series with {features} columns",
                ("target_columns", k),
            )
    return chosen


# --- CSV helpers ---------------------------------------------------------------------------


def _read_csv_rows(path: PathLike) -> tuple[list[str], list[list[str]], list[int]]:
    """Header (names stripped of spaces), the non-blank data rows and their file line numbers."""
    table: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if row:
                    table.append(row)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read as CSV: {exc}", ("path",)) from exc
    if not table:
        raise InvalidInput(f"{path}: the file is empty; expected a header row", ("series",))
    header = [name.strip() for name in table[0]]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"{path}: duplicate column names: {', '.join(duplicates)}", ("series",))
    if len(table) < 2:
        raise InvalidInput(f"{path}: no data rows after the header", ("series",))
    return header, table[1:], lines[1:]


def _choose_columns(
    path: PathLike, header: list[str], first: list[str], columns: Sequence[str] | None
) -> list[str]:
    if columns is None:
        names = [name for name, cell in zip(header, first, strict=False) if _is_number(cell)]
        if not names:
            raise InvalidInput(f"{path}: no numeric columns in {', '.join(header)}", ("columns",))
        return names
    names = list(columns)
    if not names:
        raise InvalidInput("columns must name at least one column", ("columns",))
    for k, name in enumerate(names):
        if name not in header:
            raise InvalidInput(
                f"{path}: no column named '{name}'; available: {', '.join(header)}",
                ("columns", k),
            )
    return names


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _describe_cell(cell: str) -> str:
    return "the cell is empty" if not cell.strip() else f"{cell!r:.40} is not a finite number"
