"""The classic LSTM regressor, as a user writes it: what the naive server and the KServe peer
serve, from the same `torch.save(model.state_dict())` file that lstm-serve imports."""

from __future__ import annotations

import torch
from torch import nn

INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS, OUTPUT_SIZE, STEPS = 10, 20, 2, 1, 10


class LSTMModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS, batch_first=True)
        self.fc = nn.Linear(HIDDEN_SIZE, OUTPUT_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.fc(out[:, -1, :])  # (B, output_size)


def load(path: str) -> LSTMModel:
    model = LSTMModel()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()
