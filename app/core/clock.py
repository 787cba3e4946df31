"""The service's one clock for what it records: UTC, written as ISO 8601 text in the database and
the API. (Durations and time-outs use `time.monotonic`, which never jumps.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["seconds", "milliseconds"]


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def timestamp(precision: Precision = "milliseconds") -> str:
    """The current time as ISO 8601 text, e.g. "2026-12-01T08:00:00.123+00:00"."""
    return now().isoformat(timespec=precision)
