"""The loss chart renderer: one line per curve with a point per drawable epoch (null losses
skipped), the best epoch marked, a chart that says so when there are no epochs, PNG of the
documented size; matplotlib loaded with the first chart, not with the server."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

from matplotlib.image import imread

from app.training.loss_chart import NO_EPOCHS, render_loss_chart
from tests.support.charts import PNG_SIGNATURE, line_points, svg_root, texts


def epochs(n: int, **overrides: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.5 / e, "elapsed_s": 0.1 * e}
        for e in range(1, n + 1)
    ]
    for epoch, changes in overrides.items():
        rows[int(epoch.removeprefix("e")) - 1].update(changes)
    return rows


def test_one_line_per_curve_skipping_losses_it_cannot_draw() -> None:
    history = epochs(8, e3={"val_loss": None}, e5={"train_loss": None}, e6={"val_loss": 0.0})
    image = render_loss_chart(history, "job 0123abcd: succeeded", 4, "svg")
    root = svg_root(image)
    assert line_points(root, "train-loss") == 7
    assert line_points(root, "val-loss") == 6  # null and zero (no place on a log axis) skipped
    assert line_points(root, "best-epoch") == 2
    assert {b"job 0123abcd: succeeded", b"best epoch 4", b"train", b"validation"} <= texts(image)


def test_without_validation_only_the_train_line_and_a_best_epoch_it_draws() -> None:
    history = [{**row, "val_loss": None} for row in epochs(5)]
    root = svg_root(render_loss_chart(history, "t", 9, "svg"))
    assert line_points(root, "train-loss") == 5
    assert line_points(root, "val-loss") is None
    assert line_points(root, "best-epoch") is None  # epoch 9 is not on the chart


def test_no_epochs_yet_is_a_chart_that_says_so() -> None:
    image = render_loss_chart([], "job 0123abcd: queued", None, "svg")
    root = svg_root(image)
    assert line_points(root, "train-loss") is None and line_points(root, "val-loss") is None
    assert NO_EPOCHS.encode() in texts(image)
    png = render_loss_chart([], "job 0123abcd: queued", None, "png")
    assert imread(io.BytesIO(png)).shape == (450, 800, 4)


def test_png_is_800_by_450() -> None:
    png = render_loss_chart(epochs(30), "job 0123abcd: running", 12, "png")
    assert png.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(png))
    assert pixels.shape == (450, 800, 4)
    assert pixels[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_the_server_imports_matplotlib_with_its_first_chart_only(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.core.settings import Settings\n"
        "from app.main import create_app\n"
        "from app.training.loss_chart import render_loss_chart\n"
        f"create_app(Settings(data_dir=Path({str(tmp_path)!r}), no_auth=True))\n"
        "before = 'matplotlib' in sys.modules\n"
        "render_loss_chart([], 'title', None, 'png')\n"
        "print(before, 'matplotlib' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
