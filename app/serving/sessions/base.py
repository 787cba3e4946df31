"""What every session store offers the pipeline (app/serving/pipeline.py), and what a session is
while a request of it runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import NamedTuple

from app.core.errors import SessionsFull
from app.core.inference_keys import Owner
from model.inference import State

Clock = Callable[[], float]
Key = tuple[Owner, str]  # (owner, session id)


class Kept(NamedTuple):
    version: str  # the model version the session is pinned to
    state: State  # after its last request

    @property
    def nbytes(self) -> int:
        return state_bytes(self.state)


def state_bytes(state: State) -> int:
    return sum(int(part.nbytes) for part in state if part is not None)


class Usage(NamedTuple):
    sessions: int  # with a kept state
    nbytes: int  # of their states


@dataclass(eq=False)
class Session:
    """One session while a request of it holds it."""

    id: str
    owner: Owner
    kept: Kept | None = None  # None until a request of the session succeeds
    ended: bool = False  # deleted or ended: never saved again

    @property
    def key(self) -> Key:
        return self.owner, self.id


class SessionStore(ABC):
    def __init__(self, ttl_seconds: float, max_sessions: int, max_bytes: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes

    def check_fits(self, nbytes: int) -> None:
        """SessionsFull (429) when a state of `nbytes` could never be kept."""
        if nbytes > self.max_bytes:
            raise SessionsFull(
                f"the session's state takes {nbytes} bytes; sessions may hold "
                f"{self.max_bytes} bytes in all: send fewer sequences per session",
                ("inputs",),
            )

    @abstractmethod
    def hold(self, session_id: str, owner: Owner = None) -> AbstractAsyncContextManager[Session]:
        """The session, held until the context ends: a second request of it waits, in this
        process or another. A new session when unknown; a session whose first request failed is
        forgotten, so a failed start leaves nothing behind."""

    @abstractmethod
    async def save(self, session: Session, version: str, state: State) -> None:
        """Keep `state` as the session's, evicting the least recently used sessions over the
        budgets. Nothing is kept when the session was deleted while its request ran."""

    @abstractmethod
    async def end(self, session: Session) -> None:
        """Forget a session after its last request; a request waiting for it starts anew."""

    @abstractmethod
    async def delete(self, session_id: str, owner: Owner = None) -> None:
        """Forget a session (DELETE); UnknownSession when there is no such started session."""

    @abstractmethod
    async def exists(self, session_id: str, owner: Owner = None) -> bool:
        """Whether the session has a kept state."""

    @abstractmethod
    async def usage(self) -> Usage:
        """The sessions with a kept state, and their bytes (for /metrics)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the states live, for the start-up log line."""

    @abstractmethod
    async def close(self) -> None:
        """Let go of connections; the states stay where they are."""
