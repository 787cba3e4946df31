"""What the benchmark needs besides the project: wrk (from apt, when we may install it) and a
separate virtual environment for the KServe peer, with torch pinned to the project's version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from servers import HERE, KSERVE_PYTHON

KSERVE_PACKAGES = ["kserve==0.21.0", "torch==2.13.0"]  # never let pip pick another torch


def ensure_wrk() -> None:
    if shutil.which("wrk") or shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    print("installing wrk (apt-get)", file=sys.stderr)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            print("could not install wrk; using the Python load generator", file=sys.stderr)
            return


def ensure_kserve() -> None:
    if KSERVE_PYTHON.exists():
        return
    print(f"creating {KSERVE_PYTHON.parent.parent} (a few minutes, once)", file=sys.stderr)
    venv = HERE / ".venv-kserve"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *KSERVE_PACKAGES], check=True)


def _busy_fraction(seconds: float = 2.0) -> float:
    """The share of all cores' time spent busy over `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle, iowait
        return idle, sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(limit_s: float = 180.0, busy: float = 0.15) -> float:
    """Wait (at most `limit_s`) until other processes leave the CPUs nearly idle: the servers
    are compared on the same two cores, and someone else's work skews them unevenly. Returns
    the busy share last seen, which the results report."""
    deadline = time.monotonic() + limit_s
    share = _busy_fraction()
    while share > busy and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: {share:.0%} busy", file=sys.stderr)
        share = _busy_fraction(5.0)
    return share
