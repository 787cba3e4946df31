"""Bounds of numbers as `annotated_types.Interval`: the model checks its own values with them, and
pydantic schemas take the same objects as constraints, so a bound is written once."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from annotated_types import Interval


def within(bounds: Interval, value: float) -> bool:
    """Whether `value` satisfies every limit `bounds` sets (NaN satisfies none)."""
    # The limits are numbers here; annotated_types types them as anything comparable.
    limits: list[tuple[Any, Callable[[float, float], bool]]] = [
        (bounds.ge, operator.ge),
        (bounds.gt, operator.gt),
        (bounds.le, operator.le),
        (bounds.lt, operator.lt),
    ]
    return all(limit is None or holds(value, limit) for limit, holds in limits)
