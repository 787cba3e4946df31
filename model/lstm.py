"""The classic recurrent regressor in PyTorch: nn.LSTM, nn.GRU or nn.RNN (batch_first), then
nn.Linear on each sequence's last real step. State-dict keys match the classic model exactly
(`lstm.weight_ih_l0`, ..., `fc.bias`; `gru.` or `rnn.` for the other cells, as a user's own class
with a `self.gru` or `self.rnn` names them), so a plain `torch.save(model.state_dict())` from it
loads here unchanged."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model.config import LSTMConfig

# (h, c) of an LSTM, (h, None) of a GRU or an RNN: (num_layers, B, hidden_size) each.
State = tuple[torch.Tensor, torch.Tensor | None]


class LSTMOutput(NamedTuple):
    predictions: torch.Tensor  # (B, output_size): fc of each sequence's last real step
    h: torch.Tensor  # (num_layers, B, hidden_size): final hidden state
    c: torch.Tensor | None  # (num_layers, B, hidden_size): an LSTM's final cell state; else None
    steps: torch.Tensor | None  # (B, T, output_size): fc at every step, zero past each length


class LSTMModel(nn.Module):
    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        # Stacked layers take dropout between them; torch warns when there is a single layer.
        dropout = config.dropout if config.num_layers > 1 else 0.0
        sizes = (config.input_size, config.hidden_size, config.num_layers)
        recurrent: nn.Module
        if config.cell == "lstm":
            recurrent = nn.LSTM(*sizes, batch_first=True, dropout=dropout)
        elif config.cell == "gru":
            recurrent = nn.GRU(*sizes, batch_first=True, dropout=dropout)
        else:
            recurrent = nn.RNN(
                *sizes, nonlinearity=config.nonlinearity, batch_first=True, dropout=dropout
            )
        # Registered under the cell's name: the state-dict prefix a user's class would have.
        self.add_module(config.cell, recurrent)
        self.fc = nn.Linear(config.hidden_size, config.output_size)

    @property
    def recurrent(self) -> nn.Module:
        """The nn.LSTM, nn.GRU or nn.RNN."""
        module: nn.Module = getattr(self, self.config.cell)
        return module

    def forward(
        self,
        x: torch.Tensor,
        state: State | None = None,
        lengths: torch.Tensor | None = None,
        return_steps: bool = False,
    ) -> LSTMOutput:
        """x: (B, T, input_size), padded after each sequence's end when `lengths` (B,) is given.

        Ragged batches are packed, so no padded step is read and each sequence's final state
        is taken at its own last step: every row equals what that sequence gets alone.
        """
        steps = x.shape[1]
        # A batch whose sequences all fill T runs unpacked: same result, less bookkeeping.
        ragged = lengths if lengths is not None and bool((lengths != steps).any()) else None
        initial = None if state is None else (state if self.config.has_cell_state else state[0])
        if ragged is not None:
            packed = pack_padded_sequence(x, ragged.cpu(), batch_first=True, enforce_sorted=False)
            # The recurrent module permutes `state` into the packed order and the final back.
            packed_out, final = self.recurrent(packed, initial)
            out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=steps)
        else:
            out, final = self.recurrent(x, initial)  # out: (B, T, H); final: (L, B, H) each
        h, c = final if self.config.has_cell_state else (final, None)
        predictions = self.fc(h[-1])  # h[-1] is the top layer at each sequence's last real step
        step_predictions = None
        if return_steps:
            step_predictions = self.fc(out)  # (B, T, output_size)
            if ragged is not None:
                mask = torch.arange(steps, device=x.device)[None, :] < ragged.to(x.device)[:, None]
                step_predictions = step_predictions * mask[:, :, None]
        return LSTMOutput(predictions, h, c, step_predictions)
