"""Write the dashboard's copy of the sunspot numbers (app/dashboard/static/data/sunspots.json)
from data/sunspots.csv: the forecast page prefills them for the shipped sunspot model, and the
wheel and the Docker image carry app/ but not data/. tests/dashboard checks the copy.

    python scripts/dashboard_sunspots.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "sunspots.csv"
OUT = ROOT / "app" / "dashboard" / "static" / "data" / "sunspots.json"


def sunspots() -> dict[str, object]:
    with SOURCE.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return {
        "source": "data/sunspots.csv",
        "column": "SUNACTIVITY",
        "years": [int(row["YEAR"]) for row in rows],
        "values": [float(row["SUNACTIVITY"]) for row in rows],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(sunspots(), separators=(",", ":")) + "\n")
