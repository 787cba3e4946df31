"""Training data: building, windows, file loading, splits, and that every bad input says where."""

from __future__ import annotations

import csv
import io
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.data import (
    SequenceData,
    _CsvRecords,
    _TooManyCells,
    chronological_split,
    from_arrays,
    load_csv,
    load_data,
    load_npz,
    make_windows,
    read_csv_series,
    split,
)
from model.errors import DataTooLarge, InvalidInput
from model.scaling import Scaler

SUNSPOTS = Path(__file__).resolve().parents[2] / "data" / "sunspots.csv"


def _data(n: int = 10, steps: int = 3, features: int = 2) -> SequenceData:
    inputs = np.arange(n * steps * features, dtype=np.float32).reshape(n, steps, features)
    targets = np.arange(n, dtype=np.float32)[:, None]  # (n, 1), sample i -> i
    return from_arrays(inputs, targets)


def _write(tmp_path: Path, text: str, name: str = "series.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@contextmanager
def _raises(match: str, location: tuple[str | int, ...]) -> Iterator[None]:
    """pytest.raises(InvalidInput, match=...) that also checks the error's location."""
    with pytest.raises(InvalidInput, match=match) as info:
        yield
    assert info.value.location == location


# --- from_arrays ---------------------------------------------------------------------------


def test_from_arrays_accepts_nested_lists_as_float32() -> None:
    data = from_arrays([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [[1], [2]])
    assert data.inputs.dtype == np.float32 and data.inputs.shape == (2, 2, 2)
    assert data.targets.dtype == np.float32 and data.targets.shape == (2, 1)
    assert data.summary() == {
        "n": 2,
        "steps": 2,
        "input_size": 2,
        "output_size": 1,
        "per_step": False,
        "source": "inline",
    }


def test_from_arrays_takes_flat_targets_as_one_output() -> None:
    data = from_arrays(np.zeros((3, 4, 1)), [1.0, 2.0, 3.0])
    assert data.targets.shape == (3, 1)
    assert data.targets[:, 0].tolist() == [1.0, 2.0, 3.0]


def test_from_arrays_accepts_a_list_of_per_sample_arrays() -> None:
    data = from_arrays([np.zeros((4, 2)), np.ones((4, 2))], np.zeros((2, 3)))
    assert data.summary()["output_size"] == 3 and data.inputs.shape == (2, 4, 2)


def test_nan_names_sample_step_and_feature() -> None:
    inputs = np.zeros((5, 9, 2))
    inputs[3, 7, 1] = np.nan
    with _raises(r"inputs\[3, 7, 1\] is nan", ("inputs", 3, 7, 1)):
        from_arrays(inputs, np.zeros((5, 1)))


def test_inf_in_targets_is_located() -> None:
    with _raises(r"targets\[1, 0\] is inf; values must be finite", ("targets", 1, 0)):
        from_arrays(np.zeros((2, 1, 1)), [[0.0], [float("inf")]])


def test_value_beyond_float32_is_refused() -> None:
    with _raises("within float32 range", ("inputs", 0, 0, 0)):
        from_arrays([[[1e300]]], [1.0])


def test_wrong_dimensions() -> None:
    with _raises(r"inputs must have 3 dimensions \(N, T, input_size\), got 2", ("inputs",)):
        from_arrays(np.zeros((4, 3)), np.zeros((4, 1)))
    with _raises("targets must have 1, 2 or 3 dimensions", ("targets",)):
        from_arrays(np.zeros((4, 3, 1)), np.zeros((4, 3, 1, 1)))


def test_sample_count_mismatch_points_at_targets() -> None:
    with _raises("inputs has 4 samples but targets has 3", ("targets",)):
        from_arrays(np.zeros((4, 3, 1)), np.zeros((3, 1)))


@pytest.mark.parametrize("inputs", [[], [[]], np.zeros((0, 3, 1))])
def test_empty_inputs(inputs: object) -> None:
    with _raises("inputs is empty", ("inputs",)):
        from_arrays(inputs, np.zeros((0, 1)))


def test_ragged_lists_name_the_short_one() -> None:
    with _raises(r"inputs\[1, 0\] must be a list of length 2, got length 1", ("inputs", 1, 0)):
        from_arrays([[[1, 2]], [[3]]], [1, 2])


@pytest.mark.parametrize("bad", ["1.5", True, None])
def test_non_numbers_in_lists(bad: object) -> None:
    # numpy would quietly read "1.5" as a number; a JSON client sending it has a bug.
    with _raises(r"inputs\[0, 1, 0\] must be a number", ("inputs", 0, 1, 0)):
        from_arrays([[[1.0], [bad]]], [1.0])


def test_non_numeric_array_dtype() -> None:
    with _raises("inputs must hold numbers, got dtype <U1", ("inputs",)):
        from_arrays(np.array([[["a"]]]), [1.0])


def test_direct_construction_is_validated_too() -> None:
    float64 = np.zeros((1, 1, 1))
    with _raises("must be a float32 array", ("inputs",)):
        SequenceData(float64, np.zeros((1, 1), dtype=np.float32))  # type: ignore[arg-type]


# --- make_windows --------------------------------------------------------------------------


def test_windows_on_a_known_series() -> None:
    series = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14], [5, 15]])  # (6, 2)
    data = make_windows(series, window=2, horizon=1, target_columns=[1])
    assert data.inputs.tolist() == [
        [[0, 10], [1, 11]],
        [[1, 11], [2, 12]],
        [[2, 12], [3, 13]],
        [[3, 13], [4, 14]],
    ]
    assert data.targets.tolist() == [[12], [13], [14], [15]]


def test_windows_with_horizon_and_several_targets() -> None:
    series = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14], [5, 15]])
    data = make_windows(series, window=3, horizon=2, target_columns=[1, 0])
    # Window rows 0..2 ends at row 2; two steps later is row 4.
    assert data.inputs[:, :, 0].tolist() == [[0, 1, 2], [1, 2, 3]]
    assert data.targets.tolist() == [[14, 4], [15, 5]]


def test_windows_default_to_the_last_column_and_accept_1d() -> None:
    data = make_windows([1.0, 2.0, 3.0, 4.0], window=2)
    assert data.inputs.shape == (2, 2, 1)
    assert data.targets[:, 0].tolist() == [3.0, 4.0]


def test_too_few_rows_says_how_many_are_needed() -> None:
    with _raises("series has 5 rows but window=4 and horizon=2 need at least 6", ("series",)):
        make_windows(np.zeros((5, 1)), window=4, horizon=2)


@pytest.mark.parametrize(("window", "horizon", "name"), [(0, 1, "window"), (2, 0, "horizon")])
def test_window_and_horizon_must_be_positive(window: int, horizon: int, name: str) -> None:
    with _raises(f"{name} must be a positive integer", (name,)):
        make_windows(np.zeros((10, 1)), window=window, horizon=horizon)


def test_target_column_out_of_range() -> None:
    with _raises("target column 2 is out of range .* 2 columns", ("target_columns", 1)):
        make_windows(np.zeros((10, 2)), window=2, target_columns=[0, 2])


def test_nan_in_series_is_located() -> None:
    series = np.zeros((10, 2))
    series[6, 1] = np.nan
    with _raises(r"series\[6, 1\] is nan", ("series", 6, 1)):
        make_windows(series, window=2)


# --- load_npz ------------------------------------------------------------------------------


def test_load_npz(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, inputs=np.ones((4, 3, 2)), targets=np.arange(4.0))
    data = load_npz(path)
    assert data.summary() == {
        "n": 4,
        "steps": 3,
        "input_size": 2,
        "output_size": 1,
        "per_step": False,
        "source": str(path),
    }
    assert load_data(path).summary() == data.summary()


def test_npz_missing_array_lists_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, inputs=np.ones((4, 3, 2)), y=np.ones(4))
    with _raises(r"missing array 'targets' \(found: inputs, y\)", ("targets",)):
        load_npz(path)


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    path = _write(tmp_path, "hello", "data.npz")
    with _raises("cannot read as .npz", ("path",)):
        load_npz(path)


def test_npz_with_nan_is_located(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    inputs = np.ones((4, 3, 2))
    inputs[2, 1, 0] = np.nan
    np.savez(path, inputs=inputs, targets=np.ones((4, 1)))
    with _raises(r"inputs\[2, 1, 0\] is nan", ("inputs", 2, 1, 0)):
        load_npz(path)


# --- CSV -----------------------------------------------------------------------------------

CSV = "date,x,y\n2020-01,1,10\n2020-02,2,20\n2020-03,3,30\n2020-04,4,40\n"


def test_csv_defaults_to_numeric_columns_and_last_as_target(tmp_path: Path) -> None:
    data = load_csv(_write(tmp_path, CSV), window=2)
    assert data.inputs.tolist() == [[[1, 10], [2, 20]], [[2, 20], [3, 30]]]
    assert data.targets.tolist() == [[30], [40]]
    assert data.summary()["source"].endswith("series.csv")


def test_csv_columns_by_name(tmp_path: Path) -> None:
    data = load_csv(_write(tmp_path, CSV), window=1, columns=["y", "x"], target_columns=["x"])
    assert data.inputs[:, 0, :].tolist() == [[10, 1], [20, 2], [30, 3]]
    assert data.targets.tolist() == [[2], [3], [4]]


def test_csv_unknown_column_lists_the_available_ones(tmp_path: Path) -> None:
    with _raises("no column named 'z'; available: date, x, y", ("columns", 1)):
        load_csv(_write(tmp_path, CSV), window=1, columns=["x", "z"])


def test_csv_target_must_be_an_input_column(tmp_path: Path) -> None:
    with _raises(r"target column 'y' is not among the input columns \(x\)", ("target_columns", 0)):
        load_csv(_write(tmp_path, CSV), window=1, columns=["x"], target_columns=["y"])


def test_csv_non_number_names_row_line_and_column(tmp_path: Path) -> None:
    text = "x,y\n1,10\n2,twenty\n3,30\n"
    with _raises(
        r"row 1 \(line 3\), column 'y': 'twenty' is not a finite number", ("series", 1, "y")
    ):
        load_csv(_write(tmp_path, text), window=1)


@pytest.mark.parametrize(("cell", "message"), [("", "the cell is empty"), ("nan", "'nan' is not")])
def test_csv_empty_and_nan_cells(tmp_path: Path, cell: str, message: str) -> None:
    text = f"x,y\n1,10\n2,20\n3,{cell}\n"
    with _raises(message, ("series", 2, "y")):
        load_csv(_write(tmp_path, text), window=1)


def test_csv_short_row(tmp_path: Path) -> None:
    with _raises(r"row 1 \(line 3\) has 1 cells but the header has 2", ("series", 1)):
        load_csv(_write(tmp_path, "x,y\n1,10\n2\n3,30\n"), window=1)


def test_csv_too_few_rows(tmp_path: Path) -> None:
    with _raises("series has 4 rows but window=4 and horizon=1 need at least 5", ("series",)):
        load_csv(_write(tmp_path, CSV), window=4)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("x,y\n", "no data rows"), ("x,x\n1,2\n", "duplicate column")],
)
def test_csv_without_data(tmp_path: Path, text: str, message: str) -> None:
    with _raises(message, ("series",)):
        load_csv(_write(tmp_path, text), window=1)


def test_csv_missing_file(tmp_path: Path) -> None:
    with _raises("cannot read as CSV", ("path",)):
        load_csv(tmp_path / "absent.csv", window=1)


def test_read_csv_series_skips_blank_lines_and_counts_lines(tmp_path: Path) -> None:
    names, values = read_csv_series(_write(tmp_path, "a , b\n1,2\n\n3,4\n"))
    assert names == ["a", "b"] and values.tolist() == [[1, 2], [3, 4]]
    with _raises(r"row 1 \(line 4\)", ("series", 1, "b")):
        read_csv_series(_write(tmp_path, "a,b\n1,2\n\n3,x\n"))


def test_sunspots_file_loads() -> None:
    names, values = read_csv_series(SUNSPOTS)
    assert names == ["YEAR", "SUNACTIVITY"] and values.shape == (309, 2)
    assert values[0].tolist() == [1700, 5] and values[-1, 0] == 2008
    data = load_csv(SUNSPOTS, window=9, columns=["SUNACTIVITY"])
    assert data.summary()["n"] == 300
    assert data.targets[0, 0] == values[9, 1]  # first target: year 1709


# --- CSV: streaming and bounds -------------------------------------------------------------


def _csv_records(text: str) -> list[tuple[list[str], int]]:
    """What csv itself reads from `text`: the non-blank records and the line each ends on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    return [(row, reader.line_num) for row in reader if row]


@given(st.text(alphabet='a,"\n\r ', max_size=40), st.integers(1, 6))
@settings(max_examples=1000, deadline=None, database=None, derandomize=True)
def test_cells_are_counted_before_csv_exactly_as_csv_splits_them(text: str, limit: int) -> None:
    """The bound on a record's cells is checked on its raw lines, quotes and line breaks
    inside quoted cells included, and agrees with csv on every record."""
    expected = _csv_records(text)
    lines = io.StringIO(text, newline="").readlines()
    assert list(_CsvRecords(iter(lines), None)) == expected
    too_wide = [k for k, (row, _) in enumerate(expected) if len(row) > limit]
    if not too_wide:
        assert list(_CsvRecords(iter(lines), limit)) == expected
        return
    with pytest.raises(_TooManyCells) as info:
        list(_CsvRecords(iter(lines), limit))
    assert info.value.record == too_wide[0]
    assert info.value.line <= expected[too_wide[0]][1]  # found at or before the record's end


def _random_series(rng: np.random.Generator, rows: int, ending: str) -> tuple[str, np.ndarray]:
    """A CSV whose first column is text, often quoted with commas, quotes and line breaks
    inside, with blank lines here and there; and the numbers it holds."""
    values = rng.normal(size=(rows, 2)) * 10.0 ** rng.integers(-5, 6, size=(rows, 2))
    texts = ["plain", '"with, a comma"', '"two\nlines"', '"a ""quote"""', '" \r\n,"']
    lines = ["note,a,b"]
    for x, y in values.tolist():
        note = texts[rng.integers(len(texts))] if rng.random() < 0.3 else "x"
        lines.append(f"{note},{x!r},{y!r}")
        if rng.random() < 0.05:
            lines.append("")
    return ending.join(lines) + ending, values


@pytest.mark.parametrize("chunk_chars", [1 << 20, 200, 1])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_csv_read_in_chunks_equals_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_chars: int, ending: str
) -> None:
    # Small chunks cut through quoted cells that span lines, and mix plain chunks (parsed by
    # np.loadtxt) with quoted ones (parsed by csv): the numbers must come out exactly.
    monkeypatch.setattr("model.data._CHUNK_CHARS", chunk_chars)
    text, expected = _random_series(np.random.default_rng(chunk_chars), 500, ending)
    path = tmp_path / "series.csv"
    path.write_bytes(text.encode())
    names, values = read_csv_series(path)
    assert names == ["a", "b"] and values.dtype == np.float64
    assert np.array_equal(values, expected)


@pytest.mark.parametrize("chunk_chars", [1 << 20, 30])
def test_csv_errors_far_into_the_file_keep_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_chars: int
) -> None:
    monkeypatch.setattr("model.data._CHUNK_CHARS", chunk_chars)
    rows = [f'"two\nlines",{i}\n\n' if i % 3 == 0 else f"x,{i}\n" for i in range(60)]
    lines = 1 + sum(row.count("\n") for row in rows[:40])  # the header, then rows 0..39
    text = "note,v\n" + "".join(rows[:40]) + "x,oops\n" + "".join(rows[40:])
    with _raises(rf"row 40 \(line {lines + 1}\), column 'v': 'oops'", ("series", 40, "v")):
        read_csv_series(_write(tmp_path, text))
    short = "note,v\n" + "".join(rows[:40]) + "x\n"
    with _raises(rf"row 40 \(line {lines + 1}\) has 1 cells", ("series", 40)):
        read_csv_series(_write(tmp_path, short))


def test_csv_row_with_more_cells_than_the_header(tmp_path: Path) -> None:
    with _raises(r"row 1 \(line 3\) has more cells than the header's 2", ("series", 1)):
        read_csv_series(_write(tmp_path, "x,y\n1,2\n3,4,5\n"))
    # A quoted cell may hold commas and line breaks; it is still one cell.
    names, values = read_csv_series(_write(tmp_path, 'x,t,y\n1,"a,\nb",2\n3,"c",4\n'))
    assert names == ["x", "y"] and values.tolist() == [[1, 2], [3, 4]]
    with _raises(r"row 1 \(line 4\), column 'x': 'a\\nb' is not", ("series", 1, "x")):
        read_csv_series(_write(tmp_path, 'x,y\n1,2\n"a\nb",4\n'))


def test_a_header_over_max_columns_is_refused_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, ",".join(f"c{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n")
    started = time.perf_counter()
    with pytest.raises(DataTooLarge, match="the header has more than 1024 columns; at most 1024"):
        read_csv_series(path, max_columns=1024)
    assert time.perf_counter() - started < 0.5
    names, values = read_csv_series(path, max_columns=20_000)
    assert len(names) == 20_000 and values.shape == (1, 20_000)


def test_a_line_of_millions_of_cells_never_becomes_millions_of_strings(tmp_path: Path) -> None:
    # 2 million two-letter cells: csv would make a list of 2 million strings, about 150 MB.
    path = _write(tmp_path, "x,y\n1,2\n" + "ab," * 2_000_000 + "\n")
    tracemalloc.start()
    try:
        with _raises(r"row 1 \(line 3\) has more cells than the header's 2", ("series", 1)):
            read_csv_series(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024  # the line's text and a copy or two of it (csv: 125 MB)


def test_duplicate_names_are_found_in_linear_time(tmp_path: Path) -> None:
    path = _write(tmp_path, ",".join(f"c{i % 10_000}" for i in range(20_000)) + "\n")
    started = time.perf_counter()
    with _raises(r"duplicate column names: c0, c1, .* and 9980 more$", ("series",)):
        read_csv_series(path)
    assert time.perf_counter() - started < 0.5


def test_max_values_stops_at_the_row_past_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "x,y\n\n" + "".join(f"{i},{i}\n" for i in range(100)))
    assert read_csv_series(path, max_values=200)[1].shape == (100, 2)  # exactly at the bound
    with pytest.raises(DataTooLarge) as info:
        read_csv_series(path, max_values=199)
    assert info.value.location == ("series", 99)
    assert "row 99 (line 102) takes the series past 199 numbers (2 per row)" in info.value.message
    with _raises(r"row 0 \(line 3\) takes the series past 1 numbers", ("series", 0)):
        read_csv_series(path, max_values=1)


def test_memory_is_the_numbers_kept_not_an_object_per_cell(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    numbers = rng.normal(size=(100_000, 2))
    body = "".join(
        f"2024-01-{i % 28 + 1:02d},{x:.6f},{y:.6f}\n" for i, (x, y) in enumerate(numbers)
    )
    path = _write(tmp_path, "day,a,b\n" + body)  # about 3 MB
    tracemalloc.start()
    try:
        names, values = read_csv_series(path, max_values=200_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert names == ["a", "b"] and np.allclose(values, numbers, atol=5e-7)
    # The kept numbers (1.6 MB), the array's growth, one chunk of lines; a list of strings
    # per row took 32 MB here.
    assert peak < 3 * values.nbytes + 12 * 1024 * 1024


def test_cells_that_loadtxt_refuses_are_read_as_python_reads_them(tmp_path: Path) -> None:
    # np.loadtxt is the fast path, but Python's float() is the rule: "1_000" is a number.
    values = read_csv_series(_write(tmp_path, "x,y\n1_000,2\n3, 4 \n"))[1]
    assert values.tolist() == [[1000, 2], [3, 4]]
    with _raises(r"row 1 \(line 3\), column 'y': 'inf' is not a finite number", ("series", 1, "y")):
        read_csv_series(_write(tmp_path, "x,y\n1,2\n3,inf\n"))


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffx,y\r\n1,2\r\n".encode())
    assert read_csv_series(path)[0] == ["x", "y"]


# --- load_data -----------------------------------------------------------------------------


def test_load_data_dispatches_csv(tmp_path: Path) -> None:
    data = load_data(_write(tmp_path, CSV), window=2, horizon=2)
    assert data.targets.tolist() == [[40]]


def test_load_data_refuses_unknown_suffix(tmp_path: Path) -> None:
    with _raises(r"unsupported file type '\.json'; use \.npz, \.csv or \.npy", ("path",)):
        load_data(tmp_path / "data.json")


def test_load_data_needs_window_for_csv(tmp_path: Path) -> None:
    with _raises("window is required", ("window",)):
        load_data(_write(tmp_path, CSV))


@pytest.mark.parametrize(
    ("option", "value"),
    [("window", 3), ("horizon", 2), ("columns", ["x"]), ("target_columns", ["x"])],
)
def test_load_data_refuses_csv_options_for_npz(tmp_path: Path, option: str, value: object) -> None:
    with _raises(rf"{option} applies to a series \(\.csv, \.npy\)", (option,)):
        load_data(tmp_path / "data.npz", **{option: value})  # type: ignore[arg-type]


# --- splits --------------------------------------------------------------------------------


def test_split_is_deterministic_by_seed_and_partitions() -> None:
    data = _data(n=20)
    train, val = split(data, 0.25, seed=7)
    again_train, again_val = split(data, 0.25, seed=7)
    assert np.array_equal(train.targets, again_train.targets)
    assert np.array_equal(val.targets, again_val.targets)
    assert len(train) == 15 and len(val) == 5
    ids = sorted(train.targets[:, 0].tolist() + val.targets[:, 0].tolist())
    assert ids == list(range(20))
    # Inputs travel with their targets.
    assert np.array_equal(val.inputs, data.inputs[val.targets[:, 0].astype(int)])
    other_val = split(data, 0.25, seed=8)[1]
    assert not np.array_equal(val.targets, other_val.targets)
    assert val.source == "inline (validation)"


def test_chronological_split_takes_the_last_fraction() -> None:
    train, val = chronological_split(_data(n=10), 0.3)
    assert train.targets[:, 0].tolist() == list(range(7))
    assert val.targets[:, 0].tolist() == [7, 8, 9]


def test_splits_keep_one_sample_on_each_side() -> None:
    train, val = chronological_split(_data(n=3), 0.01)
    assert (len(train), len(val)) == (2, 1)
    train, val = split(_data(n=3), 0.99, seed=0)
    assert (len(train), len(val)) == (1, 2)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_fraction_must_be_inside_0_1(fraction: float) -> None:
    with _raises(r"validation_split must be in \(0, 1\)", ("validation_split",)):
        split(_data(), fraction, seed=0)


def test_split_needs_two_samples() -> None:
    with _raises("need at least 2 samples to split, got 1", ("inputs",)):
        chronological_split(_data(n=1), 0.5)


# --- scaling -------------------------------------------------------------------------------


def test_scaling_round_trip_on_the_training_split() -> None:
    rng = np.random.default_rng(0)
    inputs = rng.normal(3.0, 2.0, size=(40, 5, 3)).astype(np.float32)
    train, _ = split(from_arrays(inputs, rng.normal(size=(40, 1))), 0.2, seed=1)
    scaler = Scaler.fit(train.inputs)
    scaled = scaler.transform(train.inputs)
    assert scaled.dtype == np.float32
    assert np.allclose(scaled.reshape(-1, 3).mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(scaler.inverse(scaled), train.inputs, rtol=0.0, atol=1e-6)


def test_scaling_round_trip_on_sunspot_windows() -> None:
    train, _ = chronological_split(load_csv(SUNSPOTS, window=9, columns=["SUNACTIVITY"]), 0.2)
    scaler = Scaler.fit(train.inputs)
    back = scaler.inverse(scaler.transform(train.inputs))
    # Values reach ~190, so float32 keeps about 1e-5 absolute: compare relatively.
    assert np.allclose(back, train.inputs, rtol=1e-6, atol=1e-6)
