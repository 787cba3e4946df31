"""The recurrent family (LSTM, GRU, Elman RNN) through the torch model, checkpoints and the torch
predictor: a plain `nn.GRU` + `nn.Linear` or `nn.RNN` + `nn.Linear` state dict, saved by a user's
own class, serves what that class computes on both backends, ragged and continued; the cell is
read off the keys and the gate rows; old checkpoints load as LSTM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from torch import nn

from model.checkpoint import METADATA_KEY, Checkpoint, load_checkpoint, save_checkpoint
from model.config import LSTMConfig
from model.errors import CheckpointError, InvalidInput
from model.inference import Predictor
from model.lstm import LSTMModel
from model.numpy_predictor import NumpyPredictor
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint


class UserGRU(nn.Module):
    """What a user writes: the recurrent layer as `self.gru`, the head as `self.fc`."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 6, 2, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(x, h0)
        return self.fc(out[:, -1, :]), h


class UserRNN(nn.Module):
    def __init__(self, nonlinearity: str) -> None:
        super().__init__()
        self.rnn = nn.RNN(3, 6, 2, nonlinearity=nonlinearity, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.rnn(x, h0)
        return self.fc(out[:, -1, :]), h


USERS = {
    "gru": (UserGRU, {}),
    "rnn-tanh": (UserRNN, {"nonlinearity": "tanh"}),
    "rnn-relu": (UserRNN, {"nonlinearity": "relu"}),
}


@pytest.fixture(params=sorted(USERS))
def user_model(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[nn.Module, Path, str]:
    cls, options = USERS[request.param]
    torch.manual_seed(0)
    model = cls(**options).eval()
    path = tmp_path / "user.pt"
    torch.save(model.state_dict(), path)
    return model, path, options.get("nonlinearity", "tanh")


def test_a_users_gru_or_rnn_serves_what_the_users_class_computes(
    user_model: tuple[nn.Module, Path, str],
) -> None:
    model, path, nonlinearity = user_model
    checkpoint = load_checkpoint(path, nonlinearity=nonlinearity)
    cell = "gru" if isinstance(model, UserGRU) else "rnn"
    assert (checkpoint.config.cell, checkpoint.config.nonlinearity) == (cell, nonlinearity)
    for predictor in (TorchPredictor(checkpoint), NumpyPredictor(checkpoint)):
        _check_against(model, predictor)


def _check_against(model: nn.Module, predictor: Predictor) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 7, 3)).astype(np.float32)
    lengths = np.array([7, 4, 1])
    h0 = rng.normal(size=(2, 3, 6)).astype(np.float32)
    got = predictor.predict(x, lengths, (h0, None))
    assert got.c is None
    for row, length in enumerate(lengths):  # ragged: each row is its sequence alone
        with torch.no_grad():
            expected, h = model(torch.from_numpy(x[row : row + 1, :length]),
                                torch.from_numpy(h0[:, row : row + 1]))  # fmt: skip
        np.testing.assert_allclose(got.predictions[row], expected[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(got.h[:, row], h[:, 0].numpy(), atol=1e-5)
    # Continued: 4 steps, then 3 more from the state the first 4 left, equal 7 at once.
    first = predictor.predict(x[:, :4], np.full(3, 4), (h0, None))
    second = predictor.predict(x[:, 4:], np.full(3, 3), first.state)
    whole = predictor.predict(x, np.full(3, 7), (h0, None))
    np.testing.assert_allclose(second.predictions, whole.predictions, atol=1e-5)
    np.testing.assert_allclose(second.h, whole.h, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_parameter_count_is_torchs_and_the_keys_carry_the_cells_name(cell: str) -> None:
    config = LSTMConfig(5, 7, 3, 2, cell=cell)  # type: ignore[arg-type]
    model = LSTMModel(config)
    assert config.parameter_count == sum(p.numel() for p in model.parameters())
    assert {key.split(".")[0] for key in model.state_dict()} == {cell, "fc"}


def test_a_state_of_the_wrong_kind_is_refused_with_its_location() -> None:
    gru = TorchPredictor(make_checkpoint(config=LSTMConfig(3, 8, 2, 2, cell="gru")))
    lstm = TorchPredictor(make_checkpoint())
    x, lengths = np.zeros((1, 2, 3), np.float32), np.array([2])
    h = np.zeros((2, 1, 8), np.float32)
    with pytest.raises(InvalidInput, match="a gru has no cell state") as info:
        gru.predict(x, lengths, (h, h))
    assert info.value.location == ("state", "c")
    with pytest.raises(InvalidInput, match="send both") as info:
        lstm.predict(x, lengths, (h, None))
    assert info.value.location == ("state", "c")


@pytest.mark.parametrize(
    ("rename", "message"),
    [
        (lambda key: key.replace("lstm.", "gru."), "gru.weight_hh_l0 has 32 rows"),
        (lambda key: key.replace("lstm.", "rnn.") if "l1" in key else key, "several cells"),
        (lambda key: key.replace("lstm.", "conv."), "no recurrent weights"),
    ],
    ids=["gate-rows", "two-cells", "unknown-layer"],
)
def test_weights_that_are_no_known_cell_are_refused(rename: object, message: str) -> None:
    tensors = {rename(key): value for key, value in make_checkpoint().tensors.items()}  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.from_tensors(tensors)


def test_a_checkpoint_written_before_cells_existed_loads_as_an_lstm(tmp_path: Path) -> None:
    checkpoint = make_checkpoint()
    save_checkpoint(checkpoint, tmp_path / "new.safetensors")
    with safetensors.safe_open(tmp_path / "new.safetensors", framework="numpy") as handle:
        header = json.loads(handle.metadata()[METADATA_KEY])
    for key in ("cell", "nonlinearity"):
        del header["config"][key]
    old = tmp_path / "old.safetensors"
    safetensors.numpy.save_file(
        checkpoint.tensors, old, metadata={METADATA_KEY: json.dumps(header)}
    )
    assert load_checkpoint(old).config == checkpoint.config
    assert load_checkpoint(old).config.cell == "lstm"
