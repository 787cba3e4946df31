"""What a model trained on a series is: the columns it reads and predicts, its window and
horizon. A checkpoint carries it (metadata "task") so that serving can forecast with the model,
feeding its predictions back as the next steps' inputs, without the job that made it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from model.errors import InvalidInput

Column = str | int  # a CSV column's name, or an index into an inline or .npy series' columns


@dataclass(frozen=True)
class SeriesTask:
    window: int  # input steps of one sample
    horizon: int  # the target is `horizon` rows after the window's last row
    input_columns: tuple[Column, ...]  # the features of each step, in order
    target_columns: tuple[Column, ...]  # the outputs, in order; each is among the inputs
    per_step: bool = False  # trained on a target at every step (the last one is the forecast)

    @classmethod
    def of_series(
        cls,
        window: int,
        horizon: int,
        columns: Sequence[Column],
        target_columns: Sequence[Column] | None,
        per_step: bool,
    ) -> SeriesTask:
        """The task of windows cut from a series' `columns` (a CSV's names, or indices),
        predicting `target_columns` (default: the last column, as the windows default)."""
        targets = target_columns or [columns[-1]]
        return cls(window, horizon, tuple(columns), tuple(targets), per_step)

    @property
    def min_history(self) -> int:
        """Rows a forecast needs: the first `horizon` forecasts read windows that end
        `horizon` - 1 rows apart."""
        return self.window + self.horizon - 1

    def unforecastable(self) -> str | None:
        """Why the model cannot roll forward, or None: each input column must be one it
        predicts, or the next step's inputs are unknown."""
        missing = [column for column in self.input_columns if column not in self.target_columns]
        if not missing:
            return None
        names = ", ".join(str(column) for column in missing)
        return (
            f"the model reads column(s) {names} without predicting them, so it cannot feed its "
            "forecasts back as the next steps' inputs"
        )

    def feedback(self) -> list[int]:
        """For each input column, its index among the targets (check `unforecastable` first)."""
        return [self.target_columns.index(column) for column in self.input_columns]

    def target_inputs(self) -> list[int]:
        """For each target column, its index among the inputs: where its past values are."""
        return [self.input_columns.index(column) for column in self.target_columns]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "series", **asdict(self)} | {
            "input_columns": list(self.input_columns),
            "target_columns": list(self.target_columns),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SeriesTask:
        return cls(
            int(values["window"]),
            int(values["horizon"]),
            tuple(values["input_columns"]),
            tuple(values["target_columns"]),
            bool(values.get("per_step", False)),
        )


def forecasting_task(metadata: dict[str, Any]) -> SeriesTask:
    """The series task of a checkpoint's metadata, when its model can forecast; InvalidInput
    saying why not otherwise."""
    if "task" not in metadata:
        raise InvalidInput(
            "it was not trained on a series (no window, horizon and columns in its "
            "checkpoint): it cannot forecast"
        )
    task = SeriesTask.from_dict(metadata["task"])
    why = task.unforecastable()
    if why is not None:
        raise InvalidInput(why)
    return task
