"""How a data-parallel job's launcher ends, from how its ranks ended: as a lone worker would
have, so that the runner records the job the same way (app/training/group.py)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from app.training.group import group_exit
from app.training.worker import EXIT_STOPPED


@pytest.mark.parametrize(
    ("codes", "status"),
    [({0: 1}, 1), ({1: 2, 0: 1}, 1), ({0: 1, 1: EXIT_STOPPED}, EXIT_STOPPED)],
    ids=["a-rank-failed", "rank-0-first", "stopped-for-a-shutdown"],
)
def test_exit_status_of_the_group(codes: dict[int, int], status: int) -> None:
    assert group_exit(codes) == status


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_rank_killed_by_a_signal_kills_the_launcher_with_it(sig: signal.Signals) -> None:
    """Even when another rank failed on its own first (its peer vanished mid-collective)."""
    program = f"from app.training.group import group_exit; group_exit({{0: 1, 1: {-sig}}})"
    process = subprocess.run([sys.executable, "-c", program], check=False)
    assert process.returncode == -sig
