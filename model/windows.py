"""A series larger than memory: an .npy file of shape (rows, F) (or (rows,)), memory-mapped, its
sliding windows cut when a batch asks for them. Only the rows a batch reads are paged in, and the
kernel may drop them again, so a data set many times the process's memory trains; the windows,
`window` times the series' size, never exist at once.

Sample i is the window starting at row `starts[i]`: inputs series[s : s + window] (all F
columns), target series[s + window - 1 + horizon, target_columns] (per step: the row `horizon`
after each step), exactly as `model.data.make_windows` cuts an in-memory series, so both give
the same samples."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.data import FloatArray, SequenceData, check_positive_int, check_target_indices
from model.errors import InvalidInput, UnreadableFile
from model.npy import NpyLayout, npy_layout

CHECK_BYTES = 8 << 20  # rows read at once when a file's values are checked


@dataclass(frozen=True, eq=False)
class SeriesWindows:
    series: np.ndarray  # (rows, F), memory-mapped read-only; any float or integer dtype
    window: int
    horizon: int
    targets_at: tuple[int, ...]  # the target columns
    starts: npt.NDArray[np.intp]  # (N,) the first row of each sample's window
    source: str
    path: Path  # the file `series` maps
    per_step: bool = False  # a target at every step, `horizon` rows after it

    @classmethod
    def open(
        cls,
        path: Path,
        window: int,
        horizon: int = 1,
        target_columns: Sequence[int] | None = None,
        *,
        source: str | None = None,
        trusted: bool = False,
        per_step: bool = False,
    ) -> SeriesWindows:
        """Map `path` and describe its windows. Every value is checked to be finite (as float32)
        a few megabytes at a time, unless the file is `trusted` (this service checked it)."""
        try:
            layout = series_layout(path)
        except UnreadableFile as exc:
            raise InvalidInput(f"{path}: {exc.message}", ("path",)) from exc
        mapped = np.memmap(path, layout.dtype, "r", layout.offset, layout.shape)
        series = mapped.reshape(layout.shape[0], -1)  # (rows,) -> (rows, 1); still mapped
        check_positive_int(window, "window")
        check_positive_int(horizon, "horizon")
        targets_at = tuple(check_target_indices(target_columns, series.shape[1]))
        rows, needed = series.shape[0], window + horizon
        if rows < needed:
            raise InvalidInput(
                f"series has {rows} rows but window={window} and horizon={horizon} need at "
                f"least {needed}",
                ("series",),
            )
        if not trusted:
            check_finite(path, layout)
        starts = np.arange(rows - needed + 1, dtype=np.intp)
        return cls(series, window, horizon, targets_at, starts, source or str(path), path, per_step)

    def __len__(self) -> int:
        return len(self.starts)

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self),
            "steps": self.window,
            "input_size": int(self.series.shape[1]),
            "output_size": len(self.targets_at),
            "per_step": self.per_step,
            "source": self.source,
        }

    def subset(self, index: npt.NDArray[np.intp], part: str) -> SeriesWindows:
        return dataclasses.replace(
            self, starts=self.starts[index], source=f"{self.source} ({part})"
        )

    def batch(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        """Samples `rows`: inputs (B, window, F) and targets (B, O) (per step: (B, window, O)),
        float32, read now."""
        starts = self.starts[rows]  # (B,)
        steps = starts[:, None] + np.arange(self.window)  # (B, window) row numbers
        inputs = np.asarray(self.series[steps], dtype=np.float32)
        ahead = steps + self.horizon if self.per_step else starts + self.window - 1 + self.horizon
        targets = np.asarray(self.series[ahead][..., list(self.targets_at)], dtype=np.float32)
        return inputs, targets

    def chunks(self, size: int) -> Iterator[tuple[FloatArray, FloatArray]]:
        for start in range(0, len(self), size):
            yield self.batch(np.arange(start, min(start + size, len(self))))

    def in_memory(self) -> SequenceData:
        """Every window read into memory, as `make_windows` would have made them."""
        return SequenceData(*self.batch(np.arange(len(self))), source=self.source)


def series_layout(path: Path) -> NpyLayout:
    """An .npy file's layout (`npy_layout`: UnreadableFile when it is no readable array) that
    holds a series: (rows,) or (rows, F), not empty (InvalidInput otherwise)."""
    layout = npy_layout(path)
    if len(layout.shape) not in (1, 2) or 0 in layout.shape:
        raise InvalidInput(
            f"an .npy series is (rows,) or (rows, F), not shape {list(layout.shape)}",
            ("series",),
        )
    return layout


def check_finite(path: Path, layout: NpyLayout) -> None:
    """InvalidInput at the first value of the series in `path` that is not finite as float32:
    ("series", row, column). Read a few megabytes at a time with plain reads, not through a
    mapping, so the pages stay the kernel's cache and never count as the process's memory."""
    columns = layout.shape[1] if len(layout.shape) == 2 else 1
    rows_at_once = max(1, CHECK_BYTES // (columns * layout.dtype.itemsize))
    with path.open("rb") as handle:
        handle.seek(layout.offset)
        start = 0
        while start < layout.shape[0]:
            count = min(rows_at_once, layout.shape[0] - start)
            chunk = np.fromfile(handle, layout.dtype, count * columns).reshape(count, columns)
            with np.errstate(over="ignore"):  # beyond float32's range: inf, reported below
                bad = np.argwhere(~np.isfinite(chunk.astype(np.float32)))
            if len(bad):
                row, column = int(bad[0][0]), int(bad[0][1])
                raise InvalidInput(
                    f"series[{row + start}, {column}] is {chunk[row, column]}; values must be "
                    "finite (and within float32 range)",
                    ("series", row + start, column),
                )
            start += count
