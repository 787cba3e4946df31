"""Reading what the server exposes, for the in-process and the real-server tests: Prometheus
samples from a `/metrics` body, and the JSON access lines of a server's log."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of the exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, /, **labels: str) -> float:
    """One sample's value; 0 when the series is absent (a counter not yet moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every series of one sample name."""
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


def log_lines(text: str) -> list[dict[str, Any]]:
    """A JSON-lines log, each line parsed (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def access_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(text) if line["logger"] == "app.access"]
