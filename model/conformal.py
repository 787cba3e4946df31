"""Split-conformal prediction intervals for forecasts, per step ahead.

On forecasts the model made from origins it never trained on (calibration), the absolute
residual |truth - forecast| is collected for every step ahead s and every output. For a level
L%, the half-width at step s is the k-th smallest of its n_s residuals with
k = ceil((n_s + 1) L / 100): if the calibration and the future are exchangeable, the interval
forecast +- that half-width covers the truth with probability at least L% (Vovk et al. 2005;
Lei et al. 2018). When k > n_s there are too few residuals for that level, and no interval is
given at step s or after it.

What is kept per step is the sorted residuals, thinned to at most `KEPT_RANKS` order statistics
(a looked-up rank rounds up to the next one kept: the interval can only widen)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
KEPT_RANKS = 100


@dataclass(frozen=True)
class StepResiduals:
    count: int  # n_s: calibration forecasts that reached this step
    ranks: list[int]  # 1-based ranks kept, ascending, the last one `count`
    values: FloatArray  # (len(ranks), output_size): each output's residuals at those ranks

    def half_width(self, level: float) -> FloatArray | None:
        """(output_size,) for `level` percent, or None when the residuals are too few."""
        needed = math.ceil((self.count + 1) * level / 100)
        if needed > self.count:
            return None
        position = int(np.searchsorted(self.ranks, needed))  # the first kept rank >= needed
        width: FloatArray = self.values[position]
        return width


@dataclass(frozen=True)
class Calibration:
    steps: list[StepResiduals]  # step 1, 2, ... ahead
    origins: int  # forecast origins the residuals come from
    source: str  # what data they were computed on, for people

    @classmethod
    def from_residuals(cls, residuals: FloatArray, source: str) -> Calibration:
        """`residuals`: (N origins, S steps, output_size) of truth - forecast, NaN where the
        truth is unknown (past the data's end). Steps that no origin reached are left out."""
        magnitudes = np.abs(residuals)
        steps = []
        for step in range(residuals.shape[1]):
            known = magnitudes[:, step][~np.isnan(magnitudes[:, step, 0])]  # (n_s, O)
            if len(known) == 0:
                break
            steps.append(_thinned(np.sort(known, axis=0)))
        return cls(steps, residuals.shape[0], source)

    def intervals(self, forecast: FloatArray, levels: list[float]) -> Bands:
        """For each level, (lower, upper) over the first steps of `forecast` (H, O) that have
        enough residuals for it: k <= H rows each, k = 0 when none has."""
        bands: Bands = {}
        for level in levels:
            widths = []
            for step in self.steps[: len(forecast)]:
                width = step.half_width(level)
                if width is None:
                    break
                widths.append(width)
            half = np.array(widths).reshape(len(widths), forecast.shape[1])
            rows = forecast[: len(widths)]
            bands[level] = (rows - half, rows + half)
        return bands

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "split conformal, absolute residuals per step ahead",
            "origins": self.origins,
            "source": self.source,
            "steps": [
                {"count": step.count, "ranks": step.ranks, "residuals": step.values.tolist()}
                for step in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Calibration:
        steps = [
            StepResiduals(int(step["count"]), [int(rank) for rank in step["ranks"]],
                          np.asarray(step["residuals"], dtype=np.float64))
            for step in values["steps"]
        ]  # fmt: skip
        return cls(steps, int(values["origins"]), str(values["source"]))

    def summary(self) -> dict[str, Any]:
        """What it is, without the residuals: for people reading a model's description."""
        counts = [step.count for step in self.steps]
        return {
            "method": "split conformal, absolute residuals per step ahead",
            "origins": self.origins,
            "source": self.source,
            "steps": len(self.steps),
            "residuals_per_step": counts,
        }


Bands = dict[float, tuple[FloatArray, FloatArray]]  # level -> (lower, upper), (k, O) each


def without_residuals(metadata: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metadata for people: its calibration's summary instead of the hundreds
    of residuals it keeps."""
    if "calibration" not in metadata:
        return metadata
    return {**metadata, "calibration": Calibration.from_dict(metadata["calibration"]).summary()}


def checkpoint_intervals(
    metadata: dict[str, Any], forecast: FloatArray, levels: list[float]
) -> tuple[Bands, str | None]:
    """The intervals of `forecast` (H, O) at `levels` from a checkpoint's calibration, and a
    note when there are none (no calibration) or one stops before the horizon."""
    if "calibration" not in metadata:
        return {}, (
            "the model has no calibration for intervals: it was trained without a validation "
            "split to calibrate on"
        )
    calibration = Calibration.from_dict(metadata["calibration"])
    bands = calibration.intervals(forecast, sorted(set(levels)))
    short = [f"{level:g}% ({len(lower)} steps)" for level, (lower, _) in bands.items()
             if len(lower) < len(forecast)]  # fmt: skip
    if not short:
        return bands, None
    return bands, (
        f"intervals stop where the calibration ({calibration.origins} forecasts on "
        f"{calibration.source}) has too few residuals for a level: {', '.join(short)}"
    )


def coverage(
    residuals: FloatArray, levels: list[float]
) -> dict[str, dict[str, float | int | None]]:
    """How often the intervals cover the truth on data they were not calibrated on: the
    origins split in two (alternating), each half's intervals counted on the other half. Per
    level: the one-step rate, the rate over every step that has an interval, and how many
    (origin, step, output) cases were counted."""
    halves = (residuals[0::2], residuals[1::2])
    found: dict[str, dict[str, float | int | None]] = {}
    for level in levels:
        first = [0, 0]  # covered, counted at step 1
        every = [0, 0]
        for fit, held_out in (halves, halves[::-1]):
            calibration = Calibration.from_residuals(fit, "")
            for step, residuals_at in enumerate(calibration.steps):
                width = residuals_at.half_width(level)
                if width is None or step >= held_out.shape[1]:
                    break
                errors = np.abs(held_out[:, step])  # (n, O), NaN where unknown
                known = ~np.isnan(errors[:, 0])
                covered = int(np.sum(errors[known] <= width))
                cases = int(errors[known].size)
                every[0], every[1] = every[0] + covered, every[1] + cases
                if step == 0:
                    first[0], first[1] = first[0] + covered, first[1] + cases
        found[level_key(level)] = {
            "one_step": first[0] / first[1] if first[1] else None,
            "all_steps": every[0] / every[1] if every[1] else None,
            "cases": every[1],
        }
    return found


def level_key(level: float) -> str:
    """80.0 -> "80", 97.5 -> "97.5": levels as JSON keys."""
    return f"{level:g}"


def _thinned(sorted_residuals: FloatArray) -> StepResiduals:
    count = len(sorted_residuals)
    if count <= KEPT_RANKS:
        ranks = list(range(1, count + 1))
    else:  # evenly spread, always keeping the largest
        ranks = sorted({int(rank) for rank in np.ceil(np.linspace(1, count, KEPT_RANKS))})
    return StepResiduals(count, ranks, sorted_residuals[np.array(ranks) - 1])
