"""The machine is shared: other people's work on the same two cores skews one server's figures
and not another's. This measures how much CPU went to processes other than the server under
test and its load generator during a measurement, so a disturbed one can be taken again."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
MAX_OTHERS = 0.10  # share of all cores: beyond it a measurement is taken again
RETRIES = 2


def _busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS  # all but idle and iowait


def _processes() -> Iterator[tuple[int, int, int, int]]:
    """(pid, parent, group, CPU ticks) of every live process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        yield pid, int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12])


def groups_of(server: int) -> set[int]:
    """The process groups of a server (its own) and of its children in their own sessions
    (training workers)."""
    return {server} | {group for _, parent, group, _ in _processes() if parent == server}


def cpu_seconds(groups: Collection[int]) -> float:
    """CPU time (user and system) used so far by the live processes of these groups."""
    return sum(ticks for _, _, group, ticks in _processes() if group in groups) / TICKS


def others_share(groups: Collection[int], run: Callable[[], T]) -> tuple[T, float]:
    """`run()` and the share of all cores that other processes used meanwhile: all but the
    server's process groups and our children (the load generator)."""
    start, busy, server = time.monotonic(), _busy_seconds(), cpu_seconds(groups)
    children = sum(os.times()[2:4])
    result = run()
    elapsed = time.monotonic() - start
    ours = cpu_seconds(groups) - server + sum(os.times()[2:4]) - children
    return result, max(0.0, (_busy_seconds() - busy - ours) / (elapsed * CORES))


def undisturbed(groups: Collection[int], run: Callable[[], T], label: str) -> tuple[T, float]:
    """`run()`, taken again (after a pause) while other processes use over MAX_OTHERS; with
    the share they used during the one kept."""
    result, share = others_share(groups, run)
    for _ in range(RETRIES):
        if share <= MAX_OTHERS:
            break
        print(f"{label}: other processes took {share:.0%} of the CPUs; again", file=sys.stderr)
        time.sleep(5)
        result, share = others_share(groups, run)
    return result, share
