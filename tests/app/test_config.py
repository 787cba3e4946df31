"""Settings: defaults, LSTM_SERVE_* variables, unknown keys refused, one cached instance."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, get_settings


def test_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.backend) == ("127.0.0.1", 8000, "torch")
    assert settings.data_dir == Path("var") and settings.model is None
    assert settings.model_name == "lstm"
    assert (settings.session_ttl_seconds, settings.max_sessions) == (600.0, 1000)
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert (settings.max_batch_size, settings.max_sequence_steps) == (256, 10_000)
    assert settings.max_total_steps == 100_000
    assert (settings.api_token, settings.api_token_file, settings.no_auth) == (None, None, False)
    assert (settings.max_concurrent_jobs, settings.max_queued_jobs) == (1, 16)
    assert (settings.training_threads, settings.training_niceness) == (1, 10)
    assert (settings.max_epochs, settings.max_training_samples) == (1000, 100_000)
    assert settings.max_training_values == 10_000_000
    assert settings.max_dataset_bytes == 64 * 1024 * 1024


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


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()
