"""LSTMConfig: the architecture every module takes. Plain data, no torch, so it loads anywhere.
Its defaults and bounds are the ones the CLI and the HTTP schema offer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from annotated_types import Interval

from model.errors import InvalidInput
from model.intervals import within

# A new model's architecture where its user does not choose (the CLI, the HTTP schema).
DEFAULT_HIDDEN_SIZE = 32
DEFAULT_NUM_LAYERS = 1
DEFAULT_DROPOUT = 0.0
SIZE_BOUNDS = Interval(ge=1)  # input_size, hidden_size, num_layers, output_size
DROPOUT_BOUNDS = Interval(ge=0.0, lt=1.0)


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int
    hidden_size: int
    num_layers: int = DEFAULT_NUM_LAYERS
    output_size: int = 1
    dropout: float = DEFAULT_DROPOUT  # between stacked LSTM layers, as nn.LSTM applies it

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size", "num_layers", "output_size"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not within(SIZE_BOUNDS, value)
            ):
                raise InvalidInput(f"{name} must be a positive integer, got {value!r}", (name,))
        if not within(DROPOUT_BOUNDS, float(self.dropout)):
            raise InvalidInput(f"dropout must be in [0, 1), got {self.dropout!r}", ("dropout",))

    @property
    def parameter_count(self) -> int:
        """Weights and biases of the LSTM and its linear head, from the sizes alone: what a
        model costs to build and train, known before it exists."""
        hidden = self.hidden_size
        # Per layer: four gates (i, f, g, o), each reading the layer's input and the hidden
        # state, and two bias vectors (bias_ih, bias_hh), as nn.LSTM keeps them.
        first = 4 * hidden * (self.input_size + hidden) + 8 * hidden
        stacked = (self.num_layers - 1) * (4 * hidden * (hidden + hidden) + 8 * hidden)
        head = hidden * self.output_size + self.output_size
        return first + stacked + head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LSTMConfig:
        """Build from a dict, refusing unknown keys so a typo never passes silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown config keys: {', '.join(unknown)}", (unknown[0],))
        return cls(**data)
