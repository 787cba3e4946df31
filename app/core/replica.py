"""Which server process this is, among the many that may share one database: its name (in
metrics and logs) and its owner id (on the jobs it claims)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from app.core.settings import Settings


@dataclass(frozen=True)
class Replica:
    name: str  # settings.replica_name, or the host name
    owner: str  # "host:pid": unique among live processes, and checkable on the same host

    @classmethod
    def of(cls, settings: Settings) -> Replica:
        host = socket.gethostname()
        return cls(settings.replica_name or host, f"{host}:{os.getpid()}")


def owner_is_dead(owner: str) -> bool:
    """Whether `owner` ("host:pid") is a process of this host that no longer runs. False for
    another host's process, whose death only its lease running out can tell."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
