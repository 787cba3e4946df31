"""Crash-safe file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Write to a temporary name in the same directory, fsync, rename over `path`, fsync the
    directory so the rename itself survives a power cut. The file's mode is `mode`, else what
    the process's umask gives a new file (the server sets 077: owner only)."""
    atomic_write_chunks(path, [data], mode)


def atomic_write_chunks(
    path: str | os.PathLike[str], chunks: Iterable[bytes], mode: int | None = None
) -> None:
    """`atomic_write_bytes` of content that arrives in pieces (a file larger than memory)."""
    target = Path(path)
    make_directories(target.parent)
    tmp_path = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in chunks:
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        if mode is not None:
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def make_directories(directory: str | os.PathLike[str]) -> None:
    """Create `directory` and its missing parents (with the umask's mode), each fsynced into its
    parent, so a new directory survives a power cut as the files written into it do."""
    path = Path(directory)
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:  # made by a concurrent writer meanwhile: theirs will do
            continue
        fsync_directory(new.parent)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sha256_of_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_once(path: str | os.PathLike[str], data: bytes, mode: int) -> bool:
    """Create `path` with `data` unless it exists; False when another writer got there first.
    Whole or absent, never half: written under a temporary name, then hard-linked into place
    (link fails when the name exists, unlike a rename)."""
    target = Path(path)
    tmp_path = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    atomic_write_bytes(tmp_path, data, mode=mode)
    try:
        os.link(tmp_path, target)
    except FileExistsError:
        return False
    finally:
        tmp_path.unlink(missing_ok=True)
    fsync_directory(target.parent)
    return True


def remove_stale_directories(root: Path, keep: set[str], older_than_s: float) -> list[str]:
    """Delete the directories under `root` not named in `keep` and untouched for `older_than_s`:
    what a crash left between writing files and registering them. A young one may be another
    process's write in progress (several server processes share a data directory), so it stays
    until a later start."""
    if not root.is_dir():
        return []
    deadline = time.time() - older_than_s
    stale = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.name not in keep and entry.is_dir() and entry.stat().st_mtime < deadline
    )
    for name in stale:
        shutil.rmtree(root / name, ignore_errors=True)
    return stale
