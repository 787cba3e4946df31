"""The committed gRPC stubs are what the vendored .proto generates (scripts/grpc_stubs.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_stubs_are_current() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/grpc_stubs.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
