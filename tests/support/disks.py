"""A directory on a disk that a test fills up and frees again, for the answers to a full disk.

Where this process may mount file systems (root, as CI and the development sandbox run the
tests), the directory is a tmpfs of its own: filled, it holds one page, and a write past it
fails in the kernel with ENOSPC. Elsewhere the same error is injected at the lowest level where
model/files.py writes (`os.fsync`, where a filesystem that allocates late reports a full disk
too), for the files under that directory only: the server's handling is the same either way."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pytest

from model.files import make_directories

_FULL = "size=4k"  # one page: no upload fits
_FREE = "size=4m"


class Disk(Protocol):
    def fill(self) -> None: ...
    def free(self) -> None: ...


class _Tmpfs:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fill(self) -> None:
        subprocess.run(["mount", "-o", f"remount,{_FULL}", str(self.directory)], check=True)

    def free(self) -> None:
        subprocess.run(["mount", "-o", f"remount,{_FREE}", str(self.directory)], check=True)


class _InjectedFull:
    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.full = False
        fsync = os.fsync

        def fsync_or_full(fd: int) -> None:
            if self.full and self._holds(fd):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync_or_full)

    def _holds(self, fd: int) -> bool:
        """A regular file under the directory (a directory's own fsync still works)."""
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        return stat.S_ISREG(os.fstat(fd).st_mode) and path.is_relative_to(self.directory)

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False


def _mounted_tmpfs(directory: Path) -> bool:
    command = ["mount", "-t", "tmpfs", "-o", f"{_FREE},mode=700", "tmpfs", str(directory)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


@contextmanager
def small_disk(
    directory: Path, monkeypatch: pytest.MonkeyPatch, inject: bool = False
) -> Iterator[Disk]:
    """`directory` (made if missing) on a disk with room until the test calls `fill()`: a
    tmpfs where one can be mounted, unless `inject` asks for the injected error anyway."""
    make_directories(directory)
    if inject or not _mounted_tmpfs(directory):
        yield _InjectedFull(directory.resolve(), monkeypatch)
        return
    try:
        yield _Tmpfs(directory)
    finally:
        subprocess.run(["umount", str(directory)], check=True)
