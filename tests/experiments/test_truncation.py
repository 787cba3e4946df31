"""The truncation study's reduced grid (`--quick`): the results the full sweep found clear-cut
hold. A truncation shorter than the lag leaves every cell at the no-memory baseline (no gradient
can teach a step to keep what it will need d steps later), while the whole sequence teaches the
LSTM; the NumPy engine reaches torch's verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.truncation.study import CELLS, study, write

pytestmark = pytest.mark.slow


def test_the_quick_grid_shows_what_the_full_study_found(tmp_path: Path) -> None:
    results = study(quick=True)
    rows = {(r["k"], r["cell"]): r for r in write(results, tmp_path)}
    for cell in CELLS:  # k = 2 < d = 4: nothing to learn from
        assert rows[(2, cell)]["success"] == 0.0
        assert rows[(2, cell)]["ratio_min"] > 0.5
    assert rows[(64, "lstm")]["success"] == 1.0  # the whole sequence: the LSTM learns the echo
    verdicts = zip(results["numpy"], results["numpy_torch"], strict=True)
    assert all(numpy["success"] == torch["success"] for numpy, torch in verdicts)
    assert (tmp_path / "success-echo.png").stat().st_size > 1000
