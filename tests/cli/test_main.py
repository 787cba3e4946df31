"""The offline commands: train, predict, import, inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli.main import main
from model.checkpoint import load_checkpoint
from model.config import LSTMConfig
from model.inference import pad_sequences
from model.lstm import LSTMModel
from model.torch_predictor import TorchPredictor
from model.train_state import load_state

SUNSPOTS = Path(__file__).resolve().parents[2] / "data" / "sunspots.csv"
PRETRAINED = Path(__file__).resolve().parents[2] / "model" / "pretrained" / "sunspots.safetensors"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_train_on_a_csv_series_writes_a_checkpoint_with_scaling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sun.safetensors"
    summary = _run(capsys, "train", str(SUNSPOTS), "--columns", "SUNACTIVITY", "--window", "9",
                   "--epochs", "3", "--hidden-size", "8", "--out", str(out))  # fmt: skip
    assert summary["epochs_run"] == 3
    checkpoint = load_checkpoint(out)
    assert checkpoint.config == LSTMConfig(1, 8, 1, 1)
    assert checkpoint.metadata["training"]["params"]["validation_mode"] == "last"
    assert 30 < checkpoint.target_scaler.mean[0] < 70  # sunspot numbers, not unit scale


def test_train_on_an_npy_series_gives_the_model_of_the_same_csv_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The .npy is memory-mapped and its windows cut per batch (with a DataLoader worker);
    the samples, and so the weights, are those of the CSV read into memory."""
    values = np.genfromtxt(SUNSPOTS, delimiter=",", names=True)["SUNACTIVITY"]
    np.save(tmp_path / "sun.npy", values)
    common = ["--window", "9", "--epochs", "3", "--hidden-size", "8", "--threads", "1"]
    from_csv, from_npy = tmp_path / "csv.safetensors", tmp_path / "npy.safetensors"
    _run(capsys, "train", str(SUNSPOTS), "--columns", "SUNACTIVITY", *common,
         "--out", str(from_csv))  # fmt: skip
    summary = _run(capsys, "train", str(tmp_path / "sun.npy"), "--target-columns", "0",
                   "--data-workers", "1", *common, "--out", str(from_npy))  # fmt: skip
    assert summary["data"]["n"] == len(values) - 9
    expected = load_checkpoint(from_csv).tensors
    for key, array in load_checkpoint(from_npy).tensors.items():
        np.testing.assert_allclose(array, expected[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_train_a_gru_or_relu_rnn_on_either_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    for cell, extra in (("gru", []), ("rnn", ["--nonlinearity", "relu"])):
        out = tmp_path / f"{cell}.safetensors"
        _run(capsys, "train", str(SUNSPOTS), "--columns", "SUNACTIVITY", "--window", "6",
             "--cell", cell, *extra, "--dry-run", "--backend", backend, "--hidden-size", "4",
             "--out", str(out))  # fmt: skip
        config = load_checkpoint(out).config
        assert (config.cell, config.nonlinearity) == (cell, extra[-1] if extra else "tanh")


def test_train_with_a_target_at_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "per-step.safetensors"
    summary = _run(capsys, "train", str(SUNSPOTS), "--columns", "SUNACTIVITY", "--window", "6",
                   "--per-step", "--tbptt", "2", "--dry-run", "--out", str(out))  # fmt: skip
    assert summary["data"]["per_step"] is True and summary["params"]["tbptt"] == 2
    sequence = TorchPredictor(load_checkpoint(out)).predict(
        np.ones((1, 6, 1), np.float32), np.array([6]), return_steps=True
    )
    assert sequence.steps is not None and sequence.steps[0].shape == (6, 1)


def test_train_on_npz_with_tbptt_and_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz", inputs=rng.normal(size=(200, 30, 3)), targets=rng.normal(size=(200, 2))
    )
    out = tmp_path / "m.safetensors"
    summary = _run(capsys, "train", str(tmp_path / "d.npz"), "--tbptt", "5", "--dry-run",
                   "--out", str(out))  # fmt: skip
    assert summary["epochs_run"] == 2 and summary["data"]["n"] == 64
    assert summary["params"]["tbptt"] == 5
    assert load_checkpoint(out).config.output_size == 2


def test_predict_from_json_matches_the_predictor_and_returns_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sequences = [[[10.0], [20.0], [30.0]], [[50.0]]]
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"inputs": sequences}))
    result = _run(capsys, "predict", "--model", str(PRETRAINED), "--input", str(request),
                  "--return-state", "--return-sequence")  # fmt: skip
    x, lengths = pad_sequences([np.array(s, dtype=np.float32) for s in sequences])
    expected = TorchPredictor(load_checkpoint(PRETRAINED)).predict(x, lengths)
    np.testing.assert_allclose(result["predictions"], expected.predictions, rtol=1e-6)
    np.testing.assert_allclose(result["state"]["h"], expected.h, rtol=1e-6)
    assert [len(s) for s in result["sequence"]] == [3, 1]


def test_predict_from_npz_with_a_pt_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    model = LSTMModel(LSTMConfig(4, 6, 2, 1)).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    np.savez(tmp_path / "x.npz", inputs=x)
    result = _run(capsys, "predict", "--model", str(tmp_path / "model.pt"),
                  "--input", str(tmp_path / "x.npz"))  # fmt: skip
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).predictions.numpy()
    np.testing.assert_allclose(result["predictions"], expected, atol=1e-6)


def test_import_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(LSTMModel(LSTMConfig(10, 20, 2, 1)).state_dict(), tmp_path / "model.pt")
    out = tmp_path / "model.safetensors"
    _run(capsys, "import", str(tmp_path / "model.pt"), "--out", str(out))
    info = _run(capsys, "inspect", str(out))
    assert info["config"] == {"input_size": 10, "hidden_size": 20, "num_layers": 2,
                              "output_size": 1, "dropout": 0.0, "cell": "lstm",
                              "nonlinearity": "tanh"}  # fmt: skip
    assert info["parameters"] == 4 * 20 * (10 + 20 + 2) + 4 * 20 * (20 + 20 + 2) + 21
    assert info["metadata"]["imported_from"] == "model.pt"


def test_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"inputs": [[[1.0], [NaN]]]}')
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "predict", "--model", str(PRETRAINED),
         "--input", str(tmp_path / "bad.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0
    assert "non-finite" in completed.stderr and "Traceback" not in completed.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "inspect", str(tmp_path / "nope.safetensors")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "nope.safetensors: no such file" in missing.stderr


def test_every_command_has_help() -> None:
    for command in ("serve", "train", "predict", "import", "inspect"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0


WEB_STACK_PROBE = """
import json, sys
from app.cli.main import main
status = main(sys.argv[1:])
web = sorted(name for name in sys.modules
             if name.split(".")[0] in ("fastapi", "starlette", "uvicorn")
             or name == "app.main" or name.startswith("app.api"))
print(json.dumps(web), file=sys.stderr)
sys.exit(status)
"""


def test_the_offline_commands_never_load_the_web_stack(tmp_path: Path) -> None:
    """Only `serve` imports FastAPI, uvicorn and app.api; the file commands stay light."""
    state_dict = tmp_path / "model.pt"
    torch.save(LSTMModel(LSTMConfig(1, 4)).state_dict(), state_dict)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"inputs": [[[10.0], [20.0], [30.0]]]}))
    history = tmp_path / "history.json"
    history.write_text(json.dumps(list(range(12))))
    commands = {
        "inspect": ["inspect", str(PRETRAINED)],
        "predict": ["predict", "--model", str(PRETRAINED), "--input", str(request)],
        "import": ["import", str(state_dict), "--out", str(tmp_path / "model.safetensors")],
        "forecast": ["forecast", "--model", str(PRETRAINED), "--history", str(history),
                     "--horizon", "2"],
    }  # fmt: skip
    for name, argv in commands.items():
        result = subprocess.run(
            [sys.executable, "-c", WEB_STACK_PROBE, *argv], capture_output=True, text=True
        )
        assert result.returncode == 0, (name, result.stderr)
        assert json.loads(result.stderr.splitlines()[-1]) == [], name


def test_train_saves_a_resume_point_and_resumes_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--save-state keeps the run's resume point; --resume continues from it (here after its
    last epoch: nothing is left to train, and the weights are the run's own). Mid-run resumes
    equal whole runs bit for bit: tests/model/test_train_state.py."""
    common = ["train", str(SUNSPOTS), "--columns", "SUNACTIVITY", "--window", "6", "--epochs",
              "3", "--hidden-size", "4", "--threads", "1"]  # fmt: skip
    whole, resumed, state = (tmp_path / name for name in ("whole.st", "resumed.st", "state.st"))
    _run(capsys, *common, "--save-state", str(state), "--out", str(whole))
    assert load_state(state).epoch == 3
    summary = _run(capsys, *common, "--resume", str(state), "--out", str(resumed))
    assert summary["epochs_run"] == 3
    for key, array in load_checkpoint(whole).tensors.items():
        np.testing.assert_array_equal(load_checkpoint(resumed).tensors[key], array)
    other_seed = [*common, "--seed", "7", "--resume", str(state), "--out", str(resumed)]
    assert main(other_seed) != 0
    assert "the resume point is of another run: its params differ" in capsys.readouterr().err


def test_a_series_model_trained_here_forecasts_with_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train` on a CSV series records the task (the column by name) and the calibration;
    `forecast` reads the history by that name and answers as POST /v1/forecast does: the path
    is the model's own predictions fed back."""
    out = tmp_path / "sun.safetensors"
    summary = _run(capsys, "train", str(SUNSPOTS), "--columns", "SUNACTIVITY", "--window", "9",
                   "--epochs", "3", "--hidden-size", "8", "--out", str(out))  # fmt: skip
    assert summary["forecast"]["steps"] == 48
    assert set(summary["forecast"]["mse_one_step"]) >= {"model", "persistence"}
    checkpoint = load_checkpoint(out)
    assert checkpoint.metadata["task"]["input_columns"] == ["SUNACTIVITY"]
    history = tmp_path / "history.csv"
    history.write_text("YEAR,SUNACTIVITY\n" + "".join(f"{1900 + i},{v}\n" for i, v in
                       enumerate([9, 5, 24, 42, 63, 54, 62, 49, 44, 19])))  # fmt: skip
    answer = _run(capsys, "forecast", "--model", str(out), "--history", str(history),
                  "--horizon", "3", "--levels", "50", "90")  # fmt: skip
    assert set(answer["intervals"]) == {"50", "90"} and answer["note"] is None
    predictor = TorchPredictor(checkpoint)
    rows = [5.0, 24, 42, 63, 54, 62, 49, 44, 19]  # the last 9 years
    for step in range(3):
        window = np.array(rows[-9:], dtype=np.float32).reshape(1, 9, 1)
        rows.append(float(predictor.predict(window, np.array([9])).predictions[0, 0]))
        assert answer["forecast"][step][0] == pytest.approx(rows[-1], abs=1e-6)
    lower, upper = (
        answer["intervals"]["90"]["lower"][0][0],
        answer["intervals"]["90"]["upper"][0][0],
    )
    assert lower < answer["forecast"][0][0] < upper
    assert main(["forecast", "--model", str(PRETRAINED), "--history", str(history),
                 "--horizon", "0"]) == 2  # fmt: skip
    assert "--horizon must be at least 1" in capsys.readouterr().err
