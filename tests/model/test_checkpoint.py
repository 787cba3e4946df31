"""Checkpoints: round trip, .pt import, and every way a file can be wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

from model.checkpoint import METADATA_KEY, load_checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.errors import CheckpointError
from model.lstm import LSTMModel
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint


def _classic_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return LSTMModel(LSTMConfig(10, 20, 2, 1)).state_dict()


def test_round_trip_keeps_weights_config_scaling_and_metadata(tmp_path: Path) -> None:
    original = make_checkpoint().with_metadata(training={"epochs_run": 3})
    path = tmp_path / "m.safetensors"
    save_checkpoint(original, path)
    loaded = load_checkpoint(path)
    assert loaded.config == original.config
    for key, array in original.tensors.items():
        np.testing.assert_array_equal(loaded.tensors[key], array)
    np.testing.assert_allclose(loaded.input_scaler.mean, original.input_scaler.mean)
    np.testing.assert_allclose(loaded.target_scaler.std, original.target_scaler.std)
    assert loaded.metadata["training"] == {"epochs_run": 3}
    assert "created_at" in loaded.metadata
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_write_that_fails_midway_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.safetensors"
    save_checkpoint(make_checkpoint(0), path)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(make_checkpoint(1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_plain_state_dict_pt_imports_and_predicts_like_the_classic_model(tmp_path: Path) -> None:
    state_dict = _classic_state_dict()
    torch.save(state_dict, tmp_path / "model.pt")
    checkpoint = load_checkpoint(tmp_path / "model.pt")
    assert checkpoint.config == LSTMConfig(10, 20, 2, 1)
    classic = LSTMModel(LSTMConfig(10, 20, 2, 1)).eval()
    classic.load_state_dict(state_dict)
    x = torch.randn(4, 10, 10)
    with torch.no_grad():
        expected = classic.fc(classic.lstm(x)[0][:, -1, :])
    got = TorchPredictor(checkpoint).predict(x.numpy(), np.full(4, 10)).predictions
    assert torch.allclose(torch.from_numpy(got).float(), expected, atol=1e-6)


def test_state_dict_wrapped_in_a_training_checkpoint_dict_imports(tmp_path: Path) -> None:
    torch.save({"epoch": 3, "model_state_dict": _classic_state_dict()}, tmp_path / "ckpt.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt").config.hidden_size == 20


def test_safetensors_without_our_header_infers_the_architecture(tmp_path: Path) -> None:
    tensors = {k: v.numpy() for k, v in _classic_state_dict().items()}
    safetensors.numpy.save_file(tensors, str(tmp_path / "plain.safetensors"))
    loaded = load_checkpoint(tmp_path / "plain.safetensors")
    assert loaded.config == LSTMConfig(10, 20, 2, 1)
    np.testing.assert_array_equal(loaded.input_scaler.std, np.ones(10))


class _Pickled:
    pass


def _write_pt(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "absent.safetensors", "no such file"),
        (lambda p: _write_bytes(p / "junk.safetensors", b"\x00garbage"), "corrupt or truncated"),
        (lambda p: _truncated(p), "corrupt or truncated"),
        (lambda p: _write_bytes(p / "junk.pt", b"not a zip"), "corrupt or not a PyTorch file"),
        (lambda p: _truncated_pt(p), "corrupt or truncated .pt"),
        (lambda p: _write_pt(p / "obj.pt", _Pickled()), "refusing to unpickle"),
        (lambda p: _write_pt(p / "model.pt", LSTMModel(LSTMConfig(2, 3))), "refusing to unpickle"),
        (lambda p: _write_pt(p / "list.pt", [1, 2]), "expected a dict of tensors"),
        (lambda p: _write_pt(p / "ints.pt", {"fc.weight": torch.ones(2, 2, dtype=torch.int64)}),
         "floating-point"),
        (lambda p: _state_dict_pt(p, drop="lstm.bias_hh_l1"), "missing keys: lstm.bias_hh_l1"),
        (lambda p: _state_dict_pt(p, add="lstm.weight_ih_l0_reverse"), "unexpected keys"),
        (lambda p: _state_dict_pt(p, reshape="lstm.weight_hh_l1"), "inconsistent shapes"),
        (lambda p: _state_dict_pt(p, drop="fc.weight"), "missing key 'fc.weight'"),
        (lambda p: _bad_header(p, "{not json"), "invalid metadata header"),
        (lambda p: _bad_header(p, json.dumps({"format_version": 99, "config": {
            "input_size": 10, "hidden_size": 20, "num_layers": 2, "output_size": 1},
            "input_scaling": {"mean": [0.0] * 10, "std": [1.0] * 10},
            "target_scaling": {"mean": [0.0], "std": [1.0]}})), "unsupported format version"),
        (lambda p: _bad_header(p, json.dumps({"format_version": 1, "config": {
            "input_size": 10, "hidden_size": 20, "num_layers": 2, "output_size": 1, "bad": 1}})),
         "unknown config keys: bad"),
        (lambda p: _nan_weights(p), "finite"),
    ],
)  # fmt: skip
def test_every_broken_file_raises_a_checkpoint_error_naming_it(
    tmp_path: Path, make: object, problem: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert problem in str(caught.value)
    assert str(caught.value).startswith(str(path))


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(tmp_path: Path) -> Path:
    path = tmp_path / "cut.safetensors"
    save_checkpoint(make_checkpoint(), path)
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    return path


def _truncated_pt(tmp_path: Path) -> Path:
    path = _write_pt(tmp_path / "cut.pt", _classic_state_dict())
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _state_dict_pt(tmp_path: Path, drop: str = "", add: str = "", reshape: str = "") -> Path:
    state_dict = dict(_classic_state_dict())
    state_dict.pop(drop, None)
    if add:
        state_dict[add] = torch.zeros(80, 10)
    if reshape:
        state_dict[reshape] = torch.zeros(80, 7)
    return _write_pt(tmp_path / "sd.pt", state_dict)


def _bad_header(tmp_path: Path, header: str) -> Path:
    tensors = {k: v.numpy() for k, v in _classic_state_dict().items()}
    path = tmp_path / "bad.safetensors"
    safetensors.numpy.save_file(tensors, str(path), metadata={METADATA_KEY: header})
    return path


def _nan_weights(tmp_path: Path) -> Path:
    tensors = {k: v.numpy() for k, v in _classic_state_dict().items()}
    tensors["fc.bias"][0] = np.nan
    path = tmp_path / "nan.safetensors"
    safetensors.numpy.save_file(tensors, str(path))
    return path
