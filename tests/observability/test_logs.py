"""The log format: JSON lines or readable text by setting, or by whether stderr is a terminal;
request ids on every record of a request; uvicorn's access log off; the operations settings."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from app.core.settings import Settings
from app.observability.logs import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    log_config,
    request_id_var,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str = "hello %s", *args: object, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(fields)
    return made


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig changes process-wide loggers: put back what pytest had."""
    names = ("", "app", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(vars(lg).copy(), list(lg.handlers), list(lg.filters)) for lg in loggers]
    yield
    for logger, (state, handlers, filters) in zip(loggers, saved, strict=True):
        vars(logger).update(state, handlers=handlers, filters=filters)


def test_json_lines_have_time_level_logger_replica_message_and_fields() -> None:
    formatter = JsonFormatter(replica="host-2")
    line = formatter.format(record("hello %s", "there", request_id="r1", status=200))
    entry = json.loads(line)
    assert entry.pop("time").endswith("+00:00")
    assert entry == {
        "level": "warning",
        "logger": "app.test",
        "replica": "host-2",
        "message": "hello there",
        "request_id": "r1",
        "status": 200,
    }


def test_json_lines_carry_the_traceback_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed", exc_info=sys.exc_info())
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_text_lines_are_readable_and_end_with_the_request_id() -> None:
    line = TextFormatter().format(record("GET /healthz 200", request_id="r2"))
    assert line.endswith("WARNING app.test GET /healthz 200 [r2]")
    assert TextFormatter().format(record("plain")).endswith("app.test plain")


def test_records_inside_a_request_get_its_id() -> None:
    token = request_id_var.set("inside")
    try:
        inside = record("x")
        RequestIdFilter().filter(inside)
    finally:
        request_id_var.reset(token)
    outside = record("y")
    RequestIdFilter().filter(outside)
    assert inside.request_id == "inside" and not hasattr(outside, "request_id")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("log_format", "terminal", "json_expected"),
    [("auto", False, True), ("auto", True, False), ("json", True, True), ("text", False, False)],
)
def test_format_by_setting_or_terminal(
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
    log_format: str,
    terminal: bool,
    json_expected: bool,
) -> None:
    stream = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.config.dictConfig(log_config(Settings(log_format=log_format)))  # type: ignore[arg-type]
    logging.getLogger("app.test").info("started", extra={"event": "x"})
    logging.getLogger("uvicorn.error").info("uvicorn says")
    logging.getLogger("uvicorn.access").info("uvicorn's own access line")
    flush_logs()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # uvicorn's access logger is silenced
    if json_expected:
        assert [json.loads(line)["message"] for line in lines] == ["started", "uvicorn says"]
    else:
        assert lines[0].endswith("INFO    app.test started") and "{" not in lines[0]


def test_log_level_setting(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.config.dictConfig(log_config(Settings(log_format="text", log_level="warning")))
    logging.getLogger("app.test").info("quiet")
    logging.getLogger("app.test").warning("loud")
    flush_logs()
    assert "quiet" not in stream.getvalue() and "loud" in stream.getvalue()


def flush_logs() -> None:
    """The background writer's queue, written out (app/observability/logs.py)."""
    for handler in logging.getLogger("app").handlers:
        handler.flush()


def test_writing_never_waits_on_the_stream(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    """A stream that blocks holds up the writer thread, not the thread that logs."""
    release = threading.Event()

    class Blocked(io.StringIO):
        def write(self, text: str) -> int:
            release.wait(10)
            return super().write(text)

    stream = Blocked()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.config.dictConfig(log_config(Settings(log_format="text")))
    started = time.perf_counter()
    for n in range(3):
        logging.getLogger("app.test").info("line %d", n)
    assert time.perf_counter() - started < 1.0 and stream.getvalue() == ""
    release.set()
    flush_logs()
    assert [line.split()[-1] for line in stream.getvalue().splitlines()] == ["0", "1", "2"]


def test_lines_leave_a_batch_at_a_time_in_order(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    """Lines logged together leave in one write, in the order logged, and none is lost."""
    writes: list[str] = []

    class Counted(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return super().write(text)

    stream = Counted()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.config.dictConfig(log_config(Settings(log_format="text")))
    for n in range(500):
        logging.getLogger("app.test").info("line %d", n)
    deadline = time.monotonic() + 10
    while stream.getvalue().count("\n") < 500 and time.monotonic() < deadline:
        time.sleep(0.01)  # written by the writer thread on its own, without a flush
    assert [line.split()[-1] for line in stream.getvalue().splitlines()] == [
        str(n) for n in range(500)
    ]
    assert len(writes) < 50  # batches, not a write per line


def test_operations_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.log_format, settings.log_level) == ("auto", "info")
    assert settings.shutdown_timeout_seconds == 30
    monkeypatch.setenv("LSTM_SERVE_LOG_FORMAT", "json")
    monkeypatch.setenv("LSTM_SERVE_SHUTDOWN_TIMEOUT_SECONDS", "5")
    assert (Settings().log_format, Settings().shutdown_timeout_seconds) == ("json", 5)
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")  # type: ignore[arg-type]
