"""What the benchmark needs besides the project: wrk (from apt, when we may install it) and a
separate virtual environment for the KServe peer, with torch pinned to the project's version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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
