"""Load generators: wrk with bench/post.lua when installed (it is not the bottleneck: one C
thread, a few percent of a core at these rates), else a multi-process Python client."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pyload import run_python_load

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Load:
    url: str
    body: Path
    content_type: str
    connections: int


@dataclass(frozen=True)
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def measure(load: Load, seconds: float) -> Result:
    if generator() == "python":
        return Result(*run_python_load(load.url, load.body.read_bytes(), load.content_type,
                                       load.connections, seconds))  # fmt: skip
    env = {**os.environ, "BODY": str(load.body), "CTYPE": load.content_type}
    command = ["wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(HERE / "post.lua"), load.url]  # fmt: skip
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(row for row in out.splitlines() if row.startswith("RESULT"))
    requests, duration_us, p50_us, p99_us, errors = (int(v) for v in line.split()[1:])
    return Result(requests / (duration_us / 1e6), p50_us / 1e3, p99_us / 1e3, errors)
