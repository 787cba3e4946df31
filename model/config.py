"""LSTMConfig: the architecture every module takes, for each recurrent cell the project has
(LSTM, GRU, Elman RNN). Plain data, no torch, so it loads anywhere. Its defaults and bounds are
the ones the CLI and the HTTP schema offer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from annotated_types import Interval

from model.errors import InvalidInput
from model.intervals import within

# A new model's architecture where its user does not choose (the CLI, the HTTP schema).
DEFAULT_HIDDEN_SIZE = 32
DEFAULT_NUM_LAYERS = 1
DEFAULT_DROPOUT = 0.0
SIZE_BOUNDS = Interval(ge=1)  # input_size, hidden_size, num_layers, output_size
DROPOUT_BOUNDS = Interval(ge=0.0, lt=1.0)

Cell = Literal["lstm", "gru", "rnn"]
Nonlinearity = Literal["tanh", "relu"]  # the Elman RNN's activation, as nn.RNN offers it
CELLS: tuple[Cell, ...] = get_args(Cell)
# Gate blocks stacked in each weight matrix: LSTM i, f, g, o; GRU r, z, n; RNN one.
GATES: dict[Cell, int] = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int
    hidden_size: int
    num_layers: int = DEFAULT_NUM_LAYERS
    output_size: int = 1
    dropout: float = DEFAULT_DROPOUT  # between stacked layers, as nn.LSTM applies it
    cell: Cell = "lstm"
    nonlinearity: Nonlinearity = "tanh"  # the RNN's; an LSTM or GRU has its own gates

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
        if self.cell not in CELLS:
            raise InvalidInput(f"cell is lstm, gru or rnn, not {self.cell!r}", ("cell",))
        if self.nonlinearity not in get_args(Nonlinearity):
            raise InvalidInput(
                f"nonlinearity is tanh or relu, not {self.nonlinearity!r}", ("nonlinearity",)
            )
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise InvalidInput(
                f"nonlinearity applies to the rnn cell; an {self.cell} has its own gates",
                ("nonlinearity",),
            )

    @property
    def has_cell_state(self) -> bool:
        """Whether the state is (h, c), as an LSTM's; a GRU's or an RNN's is h alone."""
        return self.cell == "lstm"

    @property
    def parameter_count(self) -> int:
        """Weights and biases of the recurrent layers and the linear head, from the sizes alone:
        what a model costs to build and train, known before it exists."""
        hidden, gates = self.hidden_size, GATES[self.cell]
        # Per layer: each gate block reads the layer's input and the hidden state, plus two
        # bias vectors (bias_ih, bias_hh), as nn.LSTM, nn.GRU and nn.RNN keep them.
        first = gates * hidden * (self.input_size + hidden) + 2 * gates * hidden
        stacked = (self.num_layers - 1) * (gates * hidden * 2 * hidden + 2 * gates * hidden)
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
