"""The torch model: classic state-dict layout, ragged batches, state continuation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model.config import LSTMConfig
from model.lstm import LSTMModel

CONFIG = LSTMConfig(input_size=4, hidden_size=6, num_layers=2, output_size=3)


class ClassicLSTM(nn.Module):
    """The model users train and save: the text's LSTMModel, verbatim."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, output_size: int):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
        c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


@pytest.mark.parametrize(
    ("input_size", "hidden_size", "num_layers", "output_size"),
    [(1, 1, 1, 1), (4, 6, 2, 3), (3, 32, 1, 1), (17, 9, 4, 5)],
)
def test_parameter_count_is_what_torch_allocates(
    input_size: int, hidden_size: int, num_layers: int, output_size: int
) -> None:
    config = LSTMConfig(input_size, hidden_size, num_layers, output_size)
    allocated = sum(p.numel() for p in LSTMModel(config).parameters())
    assert config.parameter_count == allocated


def test_state_dict_keys_are_the_classic_models() -> None:
    ours = list(LSTMModel(CONFIG).state_dict())
    classic = list(ClassicLSTM(4, 6, 2, 3).state_dict())
    assert ours == classic
    assert ours == [
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
        "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1",
        "fc.weight", "fc.bias",
    ]  # fmt: skip


def test_same_weights_give_the_classic_models_predictions() -> None:
    torch.manual_seed(0)
    classic = ClassicLSTM(4, 6, 2, 3).eval()
    ours = LSTMModel(CONFIG).eval()
    ours.load_state_dict(classic.state_dict())
    x = torch.randn(5, 7, 4)
    with torch.no_grad():
        assert torch.allclose(ours(x).predictions, classic(x), atol=1e-6)


def test_ragged_batch_equals_each_sequence_alone() -> None:
    torch.manual_seed(1)
    model = LSTMModel(CONFIG).eval()
    lengths = [7, 2, 5, 1]
    sequences = [torch.randn(n, 4) for n in lengths]
    padded = torch.zeros(4, 7, 4)
    for row, seq in enumerate(sequences):
        padded[row, : len(seq)] = seq
        padded[row, len(seq) :] = 99.0  # padding must never be read
    with torch.no_grad():
        batch = model(padded, lengths=torch.tensor(lengths), return_steps=True)
        for row, seq in enumerate(sequences):
            alone = model(seq[None], return_steps=True)
            assert torch.allclose(batch.predictions[row], alone.predictions[0], atol=1e-6)
            assert torch.allclose(batch.h[:, row], alone.h[:, 0], atol=1e-6)
            assert torch.allclose(batch.c[:, row], alone.c[:, 0], atol=1e-6)
            assert batch.steps is not None and alone.steps is not None
            assert torch.allclose(batch.steps[row, : len(seq)], alone.steps[0], atol=1e-6)
            assert bool((batch.steps[row, len(seq) :] == 0).all())


def test_two_halves_with_state_equal_the_whole() -> None:
    torch.manual_seed(2)
    model = LSTMModel(CONFIG).eval()
    x = torch.randn(3, 10, 4)
    with torch.no_grad():
        whole = model(x)
        first = model(x[:, :4])
        second = model(x[:, 4:], (first.h, first.c))
    assert torch.allclose(second.predictions, whole.predictions, atol=1e-6)
    assert torch.allclose(second.h, whole.h, atol=1e-6)
    assert torch.allclose(second.c, whole.c, atol=1e-6)
    assert whole.h.shape == (2, 3, 6)


def test_single_layer_ignores_dropout_without_warning() -> None:
    model = LSTMModel(LSTMConfig(input_size=1, hidden_size=2, num_layers=1, dropout=0.5))
    assert model.lstm.dropout == 0.0
