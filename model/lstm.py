"""The classic LSTM regressor in PyTorch: nn.LSTM (batch_first) then nn.Linear on each sequence's
last real step. State-dict keys match the classic model exactly (`lstm.weight_ih_l0`, ...,
`fc.bias`), so a plain `torch.save(model.state_dict())` from it loads here unchanged."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model.config import LSTMConfig


class LSTMOutput(NamedTuple):
    predictions: torch.Tensor  # (B, output_size): fc of each sequence's last real step
    h: torch.Tensor  # (num_layers, B, hidden_size): final hidden state
    c: torch.Tensor  # (num_layers, B, hidden_size): final cell state
    steps: torch.Tensor | None  # (B, T, output_size): fc at every step, zero past each length


class LSTMModel(nn.Module):
    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        # nn.LSTM applies dropout only between layers and warns when there is a single layer.
        dropout = config.dropout if config.num_layers > 1 else 0.0
        self.lstm = nn.LSTM(
            config.input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=dropout,
        )
        self.fc = nn.Linear(config.hidden_size, config.output_size)

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
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
        if ragged is not None:
            packed = pack_padded_sequence(x, ragged.cpu(), batch_first=True, enforce_sorted=False)
            # nn.LSTM permutes `state` into the packed order and the final (h, c) back.
            packed_out, (h, c) = self.lstm(packed, state)
            out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=steps)
        else:
            out, (h, c) = self.lstm(x, state)  # out: (B, T, H); h, c: (L, B, H)
        predictions = self.fc(h[-1])  # h[-1] is the top layer at each sequence's last real step
        step_predictions = None
        if return_steps:
            step_predictions = self.fc(out)  # (B, T, output_size)
            if ragged is not None:
                mask = torch.arange(steps, device=x.device)[None, :] < ragged.to(x.device)[:, None]
                step_predictions = step_predictions * mask[:, :, None]
        return LSTMOutput(predictions, h, c, step_predictions)
