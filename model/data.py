"""Training data for the LSTM: validated float32 arrays, loaded from inline lists, .npz or a CSV
time series, and split into training and validation sets. NumPy only, so it loads anywhere.

Every problem with the data raises `InvalidInput` with a location that points at the offending
element, e.g. ("inputs", 3, 7, 0) for a NaN in sample 3, step 7, feature 0, or
("series", 12, "price") for a bad cell in CSV data row 12 (0-based, header not counted).
"""

from __future__ import annotations

import csv
import itertools
import math
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TextIO, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from model.errors import DataTooLarge, InvalidInput, UnreadableFile
from model.npy import Budget, read_npz

if TYPE_CHECKING:
    from model.windows import SeriesWindows

Location = tuple[str | int, ...]
FloatArray = npt.NDArray[np.float32]
PathLike = str | Path

# Dimension names used in messages; targets may also arrive as (N,) for a single output.
_DIMS = {
    "inputs": "(N, T, input_size)",
    "targets": "(N, output_size) or (N, T, output_size)",
    "series": "(rows, F)",
}


@dataclass(frozen=True)
class SequenceData:
    """N training samples: a sequence of T steps in, and one vector out (sequence to one) or one
    at every step (per-step targets). Always valid once built."""

    inputs: FloatArray  # (N, T, input_size) float32, finite
    targets: FloatArray  # (N, output_size), or (N, T, output_size) per step; float32, finite
    source: str = "inline"  # where the samples came from, kept for provenance

    def __post_init__(self) -> None:
        _check_array(self.inputs, "inputs", 3)
        _check_array(self.targets, "targets", 2, 3)
        n_in, n_out = self.inputs.shape[0], self.targets.shape[0]
        if n_in != n_out:
            raise InvalidInput(
                f"inputs has {n_in} samples but targets has {n_out}; they must match",
                ("targets",),
            )
        if self.per_step and self.targets.shape[1] != self.inputs.shape[1]:
            raise InvalidInput(
                f"per-step targets have {self.targets.shape[1]} steps but the inputs have "
                f"{self.inputs.shape[1]}; they must match",
                ("targets",),
            )

    @property
    def per_step(self) -> bool:
        """Whether every step has a target, (N, T, output_size)."""
        return self.targets.ndim == 3

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def summary(self) -> dict[str, Any]:
        n, steps, input_size = self.inputs.shape
        return {
            "n": int(n),
            "steps": int(steps),
            "input_size": int(input_size),
            "output_size": int(self.targets.shape[-1]),
            "per_step": self.per_step,
            "source": self.source,
        }

    def subset(self, index: npt.NDArray[np.intp], part: str) -> SequenceData:
        return SequenceData(self.inputs[index], self.targets[index], f"{self.source} ({part})")

    def batch(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        return self.inputs[rows], self.targets[rows]

    def chunks(self, size: int) -> Iterator[tuple[FloatArray, FloatArray]]:
        for start in range(0, len(self), size):
            yield self.inputs[start : start + size], self.targets[start : start + size]

    def in_memory(self) -> SequenceData:
        return self


class Samples(Protocol):
    """Training samples, in memory (`SequenceData`) or cut from a memory-mapped series when a
    batch asks for them (`model.windows.SeriesWindows`)."""

    @property
    def source(self) -> str: ...

    @property
    def per_step(self) -> bool:
        """Whether every step has a target."""

    def __len__(self) -> int: ...

    def summary(self) -> dict[str, Any]: ...

    def subset(self, index: npt.NDArray[np.intp], part: str) -> Self: ...

    def batch(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        """Samples `rows`: inputs (B, T, F), targets (B, O) or per step (B, T, O)."""

    def chunks(self, size: int) -> Iterator[tuple[FloatArray, FloatArray]]:
        """Every sample in order, `size` at a time."""

    def in_memory(self) -> SequenceData:
        """Every sample, read into memory."""


AnySamples = TypeVar("AnySamples", bound=Samples)


# --- building from arrays ------------------------------------------------------------------


def from_arrays(inputs: object, targets: object, source: str = "inline") -> SequenceData:
    """Build from nested lists or arrays: inputs (N, T, input_size), targets (N, output_size),
    or (N, T, output_size) for a target at every step.

    Targets of shape (N,) are taken as one output per sample, i.e. (N, 1).
    """
    x = _to_float32(inputs, "inputs", (3,))  # (N, T, input_size)
    y = _to_float32(targets, "targets", (1, 2, 3))  # (N, O), (N,) or (N, T, O)
    if y.ndim == 1:
        y = y[:, None]  # (N,) -> (N, 1)
    return SequenceData(x, y, source)


def make_windows(
    series: object,
    window: int,
    horizon: int = 1,
    target_columns: Sequence[int] | None = None,
    source: str = "inline",
    per_step: bool = False,
) -> SequenceData:
    """Sliding windows over a time series of shape (rows, F) (or (rows,) for one feature).

    Sample i has inputs series[i : i + window] (all F columns) and target
    series[i + window - 1 + horizon, target_columns]: the row `horizon` steps after the window's
    last row; `per_step`: a target at every step t, series[i + t + horizon, target_columns], the
    row `horizon` steps after that step. target_columns defaults to the last column.
    """
    values = series_array(series)
    rows, features = values.shape
    check_positive_int(window, "window")
    check_positive_int(horizon, "horizon")
    targets_at = check_target_indices(target_columns, features)
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
    if per_step:  # the same windows, `horizon` rows later: (n, window, len(targets_at))
        ahead = np.lib.stride_tricks.sliding_window_view(values[horizon:], window, axis=0)[:n]
        targets = ahead[:, targets_at].transpose(0, 2, 1)
    else:
        targets = values[window - 1 + horizon :][:n][:, targets_at]  # (n, len(targets_at))
    return SequenceData(inputs, np.ascontiguousarray(targets), source)


# --- loading files -------------------------------------------------------------------------


def load_npz(path: PathLike, budget: Budget | None = None) -> SequenceData:
    """Read arrays named `inputs` (N, T, input_size) and `targets` (N, output_size) or (N,).

    The file is read as model/npy.py reads what a client sent; `budget` bounds the bytes it may
    unpack into and the numbers it may hold (DataTooLarge past it), none for a trusted file.
    """
    try:
        found = read_npz(Path(path), budget or Budget(), ("inputs", "targets"))
    except UnreadableFile as exc:
        raise UnreadableFile(f"{path}: cannot read as .npz: {exc.message}", ("path",)) from exc
    names, arrays = sorted(found.names), found.arrays
    for name in ("inputs", "targets"):
        if name not in arrays:
            listed = ", ".join(names) or "none"
            raise InvalidInput(f"{path}: missing array '{name}' (found: {listed})", (name,))
    return from_arrays(arrays["inputs"], arrays["targets"], source=str(path))


def read_csv_series(
    path: PathLike,
    columns: Sequence[str] | None = None,
    *,
    max_columns: int | None = None,
    max_values: int | None = None,
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Read a CSV with a header row into (column names, values (rows, F) float64).

    `columns` picks columns by name, in that order. By default every numeric column is taken,
    where a column is numeric when its first data row holds a number; after that every chosen
    cell must be a finite number.

    The file streams through in chunks and only the chosen numbers are kept, so memory is
    rows x F x 8 bytes. `max_columns` bounds the header's columns and `max_values` the numbers
    kept; past either, reading stops there with DataTooLarge.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return _read_series(path, handle, columns, max_columns, max_values)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read as CSV: {exc}", ("path",)) from exc
    except _TooManyCells as exc:
        raise _too_many_cells(path, exc) from None


def load_csv(
    path: PathLike,
    window: int,
    horizon: int = 1,
    columns: Sequence[str] | None = None,
    target_columns: Sequence[str] | None = None,
    per_step: bool = False,
) -> SequenceData:
    """Read a CSV time series (see `read_csv_series`) and cut it into sliding windows (with a
    target at every step when `per_step`).

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
    targets = [names.index(n) for n in wanted]
    return make_windows(values, window, horizon, targets, str(path), per_step)


def load_data(
    path: PathLike,
    window: int | None = None,
    horizon: int = 1,
    columns: Sequence[str] | None = None,
    target_columns: Sequence[str] | Sequence[int] | None = None,
    *,
    trusted: bool = False,
    per_step: bool = False,
) -> SequenceData | SeriesWindows:
    """Load .npz samples, a .csv time series or an .npy series, chosen by the file suffix.

    window, horizon, columns, target_columns and per_step cut a series into windows; passing
    them (or a horizon other than 1) for .npz is an error rather than being silently ignored
    (an .npz has per-step targets when its targets are (N, T, output_size)). A CSV's
    target columns are names, an .npy's are indices. An .npy series is memory-mapped and its
    windows are cut when a batch asks for them (`model.windows`); its values are checked unless
    `trusted`.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        for name, value in (("window", window), ("columns", columns)):
            if value is not None:
                raise InvalidInput(f"{name} applies to a series (.csv, .npy), not .npz", (name,))
        if target_columns is not None:
            raise InvalidInput(
                "target_columns applies to a series (.csv, .npy)", ("target_columns",)
            )
        if horizon != 1:
            raise InvalidInput("horizon applies to a series (.csv, .npy), not .npz", ("horizon",))
        if per_step:
            raise InvalidInput(
                "per_step cuts a series; an .npz has per-step targets of shape (N, T, O)",
                ("per_step",),
            )
        return load_npz(path)
    if suffix not in (".csv", ".npy"):
        raise InvalidInput(
            f"{path}: unsupported file type '{suffix}'; use .npz, .csv or .npy", ("path",)
        )
    if window is None:
        raise InvalidInput("window is required to cut a series into samples", ("window",))
    if suffix == ".csv":
        if target_columns is not None and not all(isinstance(n, str) for n in target_columns):
            raise InvalidInput("target_columns of a CSV are column names", ("target_columns",))
        return load_csv(path, window, horizon, columns, target_columns, per_step)  # type: ignore[arg-type]
    if columns is not None:
        raise InvalidInput("columns names CSV columns; an .npy series is used whole", ("columns",))
    if target_columns is not None and not all(isinstance(n, int) for n in target_columns):
        raise InvalidInput("target_columns of an .npy series are indices", ("target_columns",))
    from model.windows import SeriesWindows  # it builds on this module

    targets: Sequence[int] | None = target_columns  # type: ignore[assignment]
    return SeriesWindows.open(
        Path(path), window, horizon, targets, trusted=trusted, per_step=per_step
    )


# --- splitting -----------------------------------------------------------------------------


def split(data: AnySamples, validation_split: float, seed: int) -> tuple[AnySamples, AnySamples]:
    """Random split by samples, reproducible by seed: returns (train, val).

    Use it for independent samples (e.g. one sequence per sample from .npz). Do not use it for
    sliding windows over one series: neighbouring windows share rows, so a random split leaks
    validation values into training; use `chronological_split` there.
    """
    train, val = random_rows(len(data), validation_split, seed)
    return data.subset(train, "train"), data.subset(val, "validation")


def chronological_split(data: AnySamples, validation_split: float) -> tuple[AnySamples, AnySamples]:
    """Split off the last fraction of samples as validation: returns (train, val).

    Right for sliding windows over a time series: validation then lies after training in time,
    as it does when the model forecasts.
    """
    train, val = chronological_rows(len(data), validation_split)
    return data.subset(train, "train"), data.subset(val, "validation")


Rows = npt.NDArray[np.intp]


def random_rows(n: int, validation_split: float, seed: int) -> tuple[Rows, Rows]:
    """The sample indices of `split`'s (train, val), each in sample order."""
    n_val = _validation_count(n, validation_split)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def chronological_rows(n: int, validation_split: float) -> tuple[Rows, Rows]:
    """The sample indices of `chronological_split`'s (train, val)."""
    cut = n - _validation_count(n, validation_split)
    return np.arange(cut), np.arange(cut, n)


def _validation_count(n: int, validation_split: float) -> int:
    if isinstance(validation_split, bool) or not 0.0 < float(validation_split) < 1.0:
        raise InvalidInput(
            f"validation_split must be in (0, 1), got {validation_split!r}", ("validation_split",)
        )
    if n < 2:
        raise InvalidInput(f"need at least 2 samples to split, got {n}", ("inputs",))
    # Round to the nearest count, but keep at least one sample on each side.
    return min(max(round(n * float(validation_split)), 1), n - 1)


# --- validation helpers --------------------------------------------------------------------


def series_array(values: object, name: str = "series") -> FloatArray:
    """A series (rows, F) float32, every value finite, from nested lists or an array of shape
    (rows, F) or (rows,) (one feature); InvalidInput located under `name` otherwise."""
    array = _to_float32(values, name, (1, 2))
    return array[:, None] if array.ndim == 1 else array  # (rows,) -> (rows, 1)


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
    allowed = " or ".join(", ".join(str(d) for d in ndims).rsplit(", ", 1))
    return f"{name} must have {allowed} dimensions {_DIMS.get(name, '')}, got {got}".strip()


def _where(loc: Location) -> str:
    """("inputs", 3, 7) -> "inputs[3, 7]"."""
    name, *index = loc
    return f"{name}[{', '.join(str(i) for i in index)}]" if index else str(name)


def check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {value!r}", (name,))


def check_target_indices(target_columns: Sequence[int] | None, features: int) -> list[int]:
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

# A quoted cell as csv's default dialect reads one: it opens with a quote at the start of a cell,
# holds anything but a lone quote ("" is a quote), and runs to its closing quote and any text
# after it up to the next comma or line end, or past the line end while it is still open. The
# possessive `*+` never backtracks, so a line costs one linear scan.
_QUOTED = re.compile(r'(?:^|(?<=,))"(?:[^"]|"")*+(?:"[^,\r\n]*|\Z)')
_QUOTED_REST = re.compile(r'(?:[^"]|"")*+(?:"[^,\r\n]*|\Z)')  # a line inside an open quoted cell
_LINE_ENDS = ("\n", "\r")
_BLANK_LINES = frozenset({"\n", "\r", "\r\n"})  # csv reads each as an empty record
_CHUNK_CHARS = 1 << 20  # lines read at once: about this many characters
_FIRST_ROWS_CELLS = 1 << 16  # the array of numbers starts this big and doubles as it fills
_LISTED_NAMES = 20  # column names that a message lists before it says how many more


@dataclass(frozen=True)
class _Columns:
    """What every data row is read against: the header's width, the chosen names and where
    they are in a row."""

    path: PathLike
    width: int
    names: list[str]
    index: list[int]


def _read_series(
    path: PathLike,
    handle: TextIO,
    columns: Sequence[str] | None,
    max_columns: int | None,
    max_values: int | None,
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """The header and the first data row record by record (they choose the columns), then
    the rest in chunks of whole lines."""
    records = _CsvRecords(iter(handle.readline, ""), max_columns)
    header, first, names = _header_and_columns(path, records, columns)
    position = {name: i for i, name in enumerate(header)}
    table = _Columns(path, len(header), names, [position[name] for name in names])
    values = _GrowingRows(len(names), max_values)
    _append_row(table, values, *first)
    lines = records.lines_read
    while chunk := handle.readlines(_CHUNK_CHARS):
        chunk = _whole_records(chunk, handle)
        block = _plain_block(chunk, table)
        if block is not None and values.fits(len(block)):
            values.extend(block)
        else:  # record by record: slower, and it names what is wrong
            _append_records(table, values, chunk, lines)
        lines += len(chunk)
    return names, values.array()


def _header_and_columns(
    path: PathLike, records: _CsvRecords, columns: Sequence[str] | None
) -> tuple[list[str], tuple[list[str], int], list[str]]:
    """The header, the first data row (record, line) and the columns they choose."""
    rows = iter(records)
    header = _read_header(path, next(rows, None))
    records.limit = len(header)
    first = next(rows, None)
    if first is None:
        raise InvalidInput(f"{path}: no data rows after the header", ("series",))
    return header, first, _choose_columns(path, header, first[0], columns)


def csv_columns(path: PathLike, columns: Sequence[str] | None = None) -> list[str]:
    """The columns `read_csv_series` takes, from the header and the first data row alone."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return _header_and_columns(path, _CsvRecords(iter(handle.readline, ""), None),
                                       columns)[2]  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read as CSV: {exc}", ("path",)) from exc


def _append_records(table: _Columns, values: _GrowingRows, chunk: list[str], lines: int) -> None:
    """The chunk's records (after `lines` lines of the file) through csv, one at a time."""
    records = _CsvRecords(iter(chunk), table.width, lines, first_record=values.rows + 1)
    for row, line in records:
        _append_row(table, values, row, line)


def _append_row(table: _Columns, values: _GrowingRows, row: list[str], line: int) -> None:
    """One data row's chosen cells, all finite numbers; else the first fault, located."""
    r = values.rows
    where = f"{table.path}: row {r} (line {line})"
    if len(row) != table.width:
        raise InvalidInput(
            f"{where} has {len(row)} cells but the header has {table.width}", ("series", r)
        )
    try:
        numbers = [float(row[i]) for i in table.index]
    except ValueError:
        numbers = []
    # One sum checks them all: a NaN or an infinity makes it non-finite (and so may a sum of
    # huge finite numbers, which the cell-by-cell look below then lets through).
    if not numbers or not math.isfinite(sum(numbers)):
        for name, i in zip(table.names, table.index, strict=True):
            if not _is_number(row[i]):
                raise InvalidInput(
                    f"{where}, column '{name}': {_describe_cell(row[i])}", ("series", r, name)
                )
    if not values.fits(1):
        raise DataTooLarge(
            f"{where} takes the series past {values.max_values} numbers ({len(table.names)} "
            f"per row); at most {values.max_values}",
            ("series", r),
        )
    values.extend([numbers])


def _plain_block(chunk: list[str], table: _Columns) -> npt.NDArray[np.float64] | None:
    """The chunk's chosen numbers, parsed in C by np.loadtxt, when the chunk is plain: no
    quotes, every non-blank line `width` cells, every chosen cell a finite number as loadtxt
    reads one. None otherwise: then csv reads it record by record and says what is wrong
    (loadtxt is the stricter reader, so csv's reading stays the rule)."""
    lines = list(itertools.filterfalse(_BLANK_LINES.__contains__, chunk))
    if not lines:  # blank lines only: nothing for csv to read one by one either
        return np.empty((0, len(table.index)))
    separators = table.width - 1
    if any('"' in line or line.count(",") != separators for line in lines):
        return None
    try:
        block = np.loadtxt(
            lines, dtype=np.float64, delimiter=",", comments=None, usecols=table.index, ndmin=2
        )  # (len(lines), F)
    except ValueError:
        return None
    return block if bool(np.isfinite(block).all()) else None


def _whole_records(chunk: list[str], handle: TextIO) -> list[str]:
    """`chunk`, and when it ends inside a quoted cell the lines up to that cell's end, so a
    chunk always holds whole records."""
    if '"' not in "".join(chunk):
        return chunk
    inside = False
    for line in chunk:
        inside = _separators(line, inside)[1]
    while inside and (line := handle.readline()):
        chunk.append(line)
        inside = _separators(line, inside)[1]
    return chunk


class _TooManyCells(Exception):
    """Record `record` (0 is the header) is past `limit` cells on file line `line`."""

    def __init__(self, record: int, line: int, limit: int) -> None:
        super().__init__(record, line, limit)
        self.record, self.line, self.limit = record, line, limit


class _CsvRecords:
    """The non-blank records in `lines`, each with the file line it ends on (1-based; the
    lines start after `first_line` lines of the file, with record `first_record`).

    csv.reader turns a record into a list of strings; before it does, the record's cells are
    counted on the raw lines (str.count and one regular-expression pass, both in C), and a
    record past `limit` cells stops the reading: a 64 MB line of commas would otherwise become
    millions of strings. The header's limit is the caller's column cap; after the header it is
    the header's width, since no data row may have more cells.
    """

    def __init__(
        self, lines: Iterator[str], limit: int | None, first_line: int = 0, first_record: int = 0
    ) -> None:
        self.limit = limit
        self.first_line = first_line
        self.first_record = first_record
        self._reader = csv.reader(self._counted(lines))

    @property
    def lines_read(self) -> int:
        return self.first_line + self._reader.line_num

    def __iter__(self) -> Iterator[tuple[list[str], int]]:
        for row in self._reader:
            if row:  # a blank line is an empty record
                yield row, self.lines_read

    def _counted(self, lines: Iterator[str]) -> Iterator[str]:
        # csv pulls a line only when the record it is reading needs one, so these counts
        # always describe the record that csv is reading.
        record, cells, inside = self.first_record - 1, 0, False
        for number, line in enumerate(lines, start=self.first_line + 1):
            if not inside:  # a new record starts on this line
                if line not in _BLANK_LINES:
                    record += 1
                cells = 1
            separators, inside = _separators(line, inside)
            cells += separators
            if self.limit is not None and cells > self.limit:
                raise _TooManyCells(record, number, self.limit)
            yield line


def _separators(line: str, inside: bool) -> tuple[int, bool]:
    """The commas that split cells on one physical line, as csv's default dialect splits them,
    and whether the line ends inside a quoted cell (which then goes on on the next line)."""
    if inside:
        rest = _QUOTED_REST.match(line)
        line = line[rest.end() :] if rest else line
    if '"' in line:
        line = _QUOTED.sub("", line)
    # A line ends with its line break unless a quoted cell holds it (or it is the file's
    # last line, where nothing follows anyway).
    return line.count(","), not line.endswith(_LINE_ENDS)


def _too_many_cells(path: PathLike, exc: _TooManyCells) -> InvalidInput:
    if exc.record == 0:
        return DataTooLarge(
            f"{path}: the header has more than {exc.limit} columns; at most {exc.limit}",
            ("series",),
        )
    r = exc.record - 1
    return InvalidInput(
        f"{path}: row {r} (line {exc.line}) has more cells than the header's {exc.limit}",
        ("series", r),
    )


def _read_header(path: PathLike, record: tuple[list[str], int] | None) -> list[str]:
    """The column names, stripped of spaces; none twice (found with a set, in linear time)."""
    if record is None:
        raise InvalidInput(f"{path}: the file is empty; expected a header row", ("series",))
    header = [name.strip() for name in record[0]]
    seen: set[str] = set()
    duplicates: set[str] = set()
    for name in header:
        (duplicates if name in seen else seen).add(name)
    if duplicates:
        raise InvalidInput(
            f"{path}: duplicate column names: {_listing(sorted(duplicates))}", ("series",)
        )
    return header


class _GrowingRows:
    """Rows of `width` float64 numbers in one array that doubles as it fills, up to
    `max_values` numbers: memory is the numbers kept, never a Python object per cell."""

    def __init__(self, width: int, max_values: int | None) -> None:
        self.width = width
        self.max_values = max_values
        self.max_rows = None if max_values is None else max_values // width
        first = max(_FIRST_ROWS_CELLS // width, 1)
        if self.max_rows is not None:
            first = max(min(first, self.max_rows), 1)
        self.rows = 0
        self._array = np.empty((first, width))  # (rows, F)

    def fits(self, rows: int) -> bool:
        return self.max_rows is None or self.rows + rows <= self.max_rows

    def extend(self, block: npt.ArrayLike) -> None:
        """Append rows (n, F) that fit."""
        new = np.asarray(block, dtype=np.float64)  # (n, F)
        end = self.rows + len(new)
        if end > len(self._array):
            grown = max(end, 2 * len(self._array))
            if self.max_rows is not None:
                grown = min(grown, self.max_rows)
            # In place where the allocator can; nothing else holds a view of the array yet.
            self._array.resize((grown, self.width), refcheck=False)
        self._array[self.rows : end] = new
        self.rows = end

    def array(self) -> npt.NDArray[np.float64]:
        self._array.resize((self.rows, self.width), refcheck=False)
        return self._array


def _choose_columns(
    path: PathLike, header: list[str], first: list[str], columns: Sequence[str] | None
) -> list[str]:
    if columns is None:
        names = [name for name, cell in zip(header, first, strict=False) if _is_number(cell)]
        if not names:
            raise InvalidInput(f"{path}: no numeric columns in {_listing(header)}", ("columns",))
        return names
    names = list(columns)
    if not names:
        raise InvalidInput("columns must name at least one column", ("columns",))
    known = set(header)
    for k, name in enumerate(names):
        if name not in known:
            raise InvalidInput(
                f"{path}: no column named '{name}'; available: {_listing(header)}",
                ("columns", k),
            )
    return names


def _listing(names: list[str]) -> str:
    """Names for a message: the first few, then how many more (a header may have thousands)."""
    shown = ", ".join(names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _describe_cell(cell: str) -> str:
    return "the cell is empty" if not cell.strip() else f"{cell!r:.40} is not a finite number"
