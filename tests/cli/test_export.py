"""`lstm-serve export`: the shipped model as an ONNX file, written without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.checkpoint import load_checkpoint
from model.inference import pad_sequences
from model.numpy_predictor import NumpyPredictor

PRETRAINED = Path(__file__).resolve().parents[2] / "model" / "pretrained" / "sunspots.safetensors"
# The command, then proof that torch was never imported.
SCRIPT = """
import sys
from app.cli.main import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "export imported torch"
sys.exit(code)
"""


def test_export_writes_the_model_as_onnx_without_torch(tmp_path: Path) -> None:
    out = tmp_path / "sunspots.onnx"
    argv = ["export", str(PRETRAINED), "--format", "onnx", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["out"] == str(out) and summary["bytes"] == out.stat().st_size
    x, lengths = pad_sequences([np.array([[80.0], [60.5], [40.1], [20.3]], np.float32)])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    zeros = np.zeros((1, 1, 32), np.float32)
    feed = {"input": x, "sequence_lens": lengths.astype(np.int32), "initial_h": zeros,
            "initial_c": zeros}  # fmt: skip
    prediction = session.run(["prediction"], feed)[0]
    expected = NumpyPredictor(load_checkpoint(PRETRAINED)).predict(x, lengths).predictions
    np.testing.assert_allclose(prediction, expected, rtol=1e-5)
