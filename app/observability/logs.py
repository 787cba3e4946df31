"""The server's logging: one stream on stderr, JSON lines for log collectors or readable text for
a terminal (`log_format`: auto picks by whether stderr is a terminal), the same for uvicorn's
own loggers and ours. Every record logged while a request runs carries its request id
(app/api/access_log.py sets it); uvicorn's access log is replaced by app/api/access_log.py's
one line per request. A thread writes the lines (`BackgroundStderr`): logging never makes the
event loop wait on the stream.

What is logged is chosen where it is logged: never a header, a token or a request body."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
import threading
import time
from collections import deque
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from app.core.replica import Replica
from app.core.settings import Settings

# The id of the request being handled, for every record logged on its behalf (worker threads
# that anyio starts for a request copy the context, so they see it too).
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A caller's request id is kept when sane (1-64 letters, digits, `.`, `_`, `:` or `-`), so it
# cannot forge log lines or bloat them. A new one: 32 hex digits, a random prefix for this
# process then a counter. Unique across processes and restarts as a uuid4 is (64 random bits),
# without a system call for random bytes per request; an id names a request, it is no secret.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()


def request_id(sent: str | None) -> str:
    """The id of a request (HTTP's X-Request-ID, gRPC's x-request-id metadata): `sent` when it
    is sane, else a new one."""
    if sent is not None and _SANE_ID.fullmatch(sent):
        return sent
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


# A LogRecord's own attributes; anything else on a record came as `extra=` and is a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records logged inside a request (unless the record has one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = request_id_var.get()
            if request_id is not None:
                record.request_id = request_id
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and k[0] != "_"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, replica (which server process wrote it),
    message, then the record's fields."""

    def __init__(self, replica: str | None = None) -> None:
        super().__init__()
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "replica": self.replica,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`2026-01-02 10:00:00,123 INFO    app.access POST /v1/predict 200 1.9 ms [request id]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return line if request_id is None else f"{line} [{request_id}]"


class BackgroundStderr(logging.Handler):
    """Every record to stderr, written by a thread of its own, a batch at a time: the thread that
    logs (the event loop, for the access line of every request) only appends the record to a
    deque, and never waits on the stream. The writer wakes when a batch starts, lets it gather
    for `BATCH_SECONDS`, then formats it and writes it in one write: one wake-up, one system call
    and one hand-over of the interpreter lock for a batch instead of for every line (per line,
    those cost single-sequence predictions a fifth of their throughput). Filters run in the
    thread that logs, so a record gets the request id of the request that logged it. It writes
    to whatever `sys.stderr` is then (as logging's last-resort handler does), not to the stream
    of start-up, which may be closed since. `flush()` writes what is queued before it returns;
    closing (dictConfig replacing the handler, or logging's shutdown at exit) writes the rest."""

    BATCH_SECONDS = 0.02

    def __init__(self) -> None:
        super().__init__()
        self._records: deque[logging.LogRecord] = deque()
        self._started_batch = False  # a record waits and the writer has been woken for it
        self._wake = threading.Event()
        self._closing = False
        self._writing = threading.Lock()  # one batch at a time, in order
        self._writer = threading.Thread(target=self._write_batches, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)  # deque appends are atomic: no lock on the hot path
        if not self._started_batch:
            self._started_batch = True
            self._wake.set()

    def flush(self) -> None:
        """Every record emitted so far is written when this returns."""
        self._write_queued()

    def close(self) -> None:
        if not self._closing:  # close() may come twice (dictConfig, then shutdown)
            self._closing = True
            self._wake.set()
            self._writer.join()
        self._write_queued()
        super().close()

    def _write_batches(self) -> None:
        while not self._closing:
            self._wake.wait()
            time.sleep(self.BATCH_SECONDS)  # let the batch gather
            # Cleared before the batch is taken: a record emitted from here on starts another.
            self._wake.clear()
            self._started_batch = False
            self._write_queued()

    def _write_queued(self) -> None:
        with self._writing:
            lines = []
            while self._records:
                record = self._records.popleft()
                try:
                    lines.append(self.format(record) + "\n")
                except Exception:
                    self.handleError(record)
            if not lines:
                return
            try:
                stream = sys.stderr
                stream.write("".join(lines))
                stream.flush()
            except Exception:
                self.handleError(record)


def skip_unused_record_fields() -> None:
    """Records no longer look up their thread and process (as the logging HOWTO's "Optimization"
    suggests): neither format writes them, and the access line of every request pays for them."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def use_json(log_format: str) -> bool:
    if log_format == "auto":
        return not sys.stderr.isatty()
    return log_format == "json"


def log_config(settings: Settings) -> dict[str, Any]:
    """The `logging.config.dictConfig` for uvicorn's `log_config`: every logger to stderr in the
    chosen format; uvicorn's access logger silenced (app/api/access_log.py logs each request)."""
    formatter = "json" if use_json(settings.log_format) else "text"
    level = settings.log_level.upper()
    own = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {"()": JsonFormatter, "replica": Replica.of(settings).name},
            "text": {"()": TextFormatter},
        },
        "handlers": {
            "stderr": {
                "()": BackgroundStderr,
                "formatter": formatter,
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "uvicorn": own,
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "app": own,
        },
        # Libraries' warnings (and anything else) in the same stream and format.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
