"""LSTMConfig: the architecture every module takes. Plain data, no torch, so it loads anywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from model.errors import InvalidInput


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int
    hidden_size: int
    num_layers: int = 1
    output_size: int = 1
    dropout: float = 0.0  # between stacked LSTM layers, as nn.LSTM applies it

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size", "num_layers", "output_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a positive integer, got {value!r}", (name,))
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InvalidInput(f"dropout must be in [0, 1), got {self.dropout!r}", ("dropout",))

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
