"""Settings: LSTM_SERVE_* variables, explicit values over them, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.settings import Settings


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LSTM_SERVE_PORT", "9001")
    monkeypatch.setenv("LSTM_SERVE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LSTM_SERVE_BACKEND", "numpy")
    monkeypatch.setenv("LSTM_SERVE_SESSION_TTL_SECONDS", "2.5")
    settings = Settings()
    assert (settings.port, settings.data_dir, settings.backend) == (9001, tmp_path, "numpy")
    assert settings.session_ttl_seconds == 2.5
    assert Settings(port=9002).port == 9002  # explicit values (the CLI's flags) win


def test_unknown_and_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Settings(max_batch=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(backend="jax")  # type: ignore[arg-type]
    monkeypatch.setenv("LSTM_SERVE_MAX_SESSIONS", "0")
    with pytest.raises(ValidationError, match="max_sessions"):
        Settings()


def test_every_setting_is_documented() -> None:
    """docs/settings.md lists each LSTM_SERVE_* variable, so none is a secret of the code."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name.upper()}`" not in page]
    assert not missing
