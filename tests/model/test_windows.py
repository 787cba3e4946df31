"""A series on disk (model/windows.py): memory-mapped, its windows cut per batch, giving the
samples, the splits, the scaling and the trained weights of the same series in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.config import LSTMConfig
from model.data import load_data, make_windows
from model.errors import InvalidInput
from model.torch_trainer import train_torch
from model.train_loop import TrainParams, prepare
from model.windows import SeriesWindows

WINDOW, HORIZON, TARGETS = 6, 2, [0, 2]


@pytest.fixture
def series() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(size=(300, 3)), axis=0)  # float64, as np.save writes by default


@pytest.fixture
def saved(series: np.ndarray, tmp_path: Path) -> Path:
    np.save(tmp_path / "series.npy", series)
    return tmp_path / "series.npy"


def test_windows_on_disk_are_the_windows_in_memory(series: np.ndarray, saved: Path) -> None:
    on_disk = load_data(saved, WINDOW, HORIZON, target_columns=TARGETS)
    assert isinstance(on_disk, SeriesWindows)
    in_memory = make_windows(series, WINDOW, HORIZON, TARGETS)
    assert on_disk.summary() == {**in_memory.summary(), "source": str(saved)}
    rows = np.array([0, 17, len(in_memory) - 1])
    for got, expected in zip(on_disk.batch(rows), in_memory.batch(rows), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
    chunks = list(on_disk.chunks(100))
    assert [len(inputs) for inputs, _ in chunks] == [100, 100, 93]
    np.testing.assert_array_equal(np.concatenate([t for _, t in chunks]), in_memory.targets)


@pytest.mark.parametrize("mode", ["last", "random"])
def test_split_and_scaling_match_the_series_in_memory(
    series: np.ndarray, saved: Path, mode: str
) -> None:
    config = LSTMConfig(3, 8, 1, 2)
    params = TrainParams(validation_mode=mode)  # type: ignore[arg-type]
    on_disk = prepare(config, SeriesWindows.open(saved, WINDOW, HORIZON, TARGETS), params, None)
    in_memory = prepare(config, make_windows(series, WINDOW, HORIZON, TARGETS), params, None)
    assert on_disk.val_set is not None and in_memory.val_set is not None
    np.testing.assert_array_equal(on_disk.val_set.in_memory().inputs, in_memory.val_set.inputs)
    for name in ("input_scaler", "target_scaler"):
        disk, memory = getattr(on_disk, name), getattr(in_memory, name)
        np.testing.assert_allclose(disk.mean, memory.mean, rtol=1e-12)
        np.testing.assert_allclose(disk.std, memory.std, rtol=1e-12)


@pytest.mark.parametrize("data_workers", [0, 1])
def test_training_from_disk_gives_the_weights_of_training_in_memory(
    series: np.ndarray, saved: Path, data_workers: int
) -> None:
    config = LSTMConfig(3, 8, 1, 2)
    params = TrainParams(epochs=3, batch_size=16, validation_mode="last", num_threads=1)
    on_disk = SeriesWindows.open(saved, WINDOW, HORIZON, TARGETS)
    streamed = train_torch(config, on_disk, params, data_workers=data_workers).checkpoint
    whole = train_torch(config, make_windows(series, WINDOW, HORIZON, TARGETS), params).checkpoint
    for key, array in whole.tensors.items():
        np.testing.assert_allclose(streamed.tensors[key], array, rtol=0, atol=1e-6)
    assert streamed.metadata["training"]["val_loss"] == pytest.approx(
        whole.metadata["training"]["val_loss"], rel=1e-5
    )


def test_a_value_that_is_not_finite_is_refused_at_its_row_and_column(
    series: np.ndarray, tmp_path: Path
) -> None:
    series[250, 1] = 1e39  # beyond float32
    np.save(tmp_path / "bad.npy", series)
    with pytest.raises(InvalidInput, match=r"series\[250, 1\]") as info:
        SeriesWindows.open(tmp_path / "bad.npy", WINDOW)
    assert info.value.location == ("series", 250, 1)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 3, 2), np.float32), r"\(rows,\) or \(rows, F\)"),
        (np.asfortranarray(np.zeros((40, 3), np.float32)), "Fortran order"),
        (np.zeros((5, 3), np.float32), "need at least 8"),
    ],
    ids=["three-dimensions", "fortran-order", "too-few-rows"],
)
def test_files_that_are_no_series_are_refused(
    array: np.ndarray, message: str, tmp_path: Path
) -> None:
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(InvalidInput, match=message):
        SeriesWindows.open(tmp_path / "x.npy", WINDOW, HORIZON)


def test_a_truncated_file_is_refused(saved: Path) -> None:
    content = saved.read_bytes()
    saved.write_bytes(content[:-8])
    with pytest.raises(InvalidInput, match="header's shape") as info:
        SeriesWindows.open(saved, WINDOW)
    assert info.value.location == ("path",)
