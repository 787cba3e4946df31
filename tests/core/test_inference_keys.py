"""Inference keys: off by default; from the settings or a file; refused when too short or given
twice; a request's owner is its key's fingerprint, compared in constant time."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import Forbidden, StartupError, Unauthorized
from app.core.inference_keys import fingerprint, load_inference_keys
from app.core.settings import Settings

ALICE, BOB = "alice-key-0123456789abcdef", "bob-key-0123456789abcdefgh"


def test_without_keys_inference_is_open(tmp_path: Path) -> None:
    keys = load_inference_keys(Settings(data_dir=tmp_path))
    assert not keys.required and keys.owner(None) is None and keys.owner("anything") is None


def test_keys_from_the_settings_name_their_owner(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, inference_tokens=[ALICE, BOB])  # type: ignore[list-item]
    keys = load_inference_keys(settings)
    assert keys.owner(ALICE) == fingerprint(ALICE.encode()) != keys.owner(BOB)
    assert ALICE not in keys.owner(ALICE)  # type: ignore[operator]  # a name, not the key
    with pytest.raises(Unauthorized):
        keys.owner(None)
    with pytest.raises(Forbidden):
        keys.owner(ALICE + "x")


def test_keys_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# clients\n{ALICE}\n\n  {BOB}  \n")
    keys = load_inference_keys(Settings(data_dir=tmp_path, inference_tokens_file=path))
    assert keys.owner(BOB) == fingerprint(BOB.encode())
    monkeypatch.setenv("LSTM_SERVE_INFERENCE_TOKENS", f'["{ALICE}"]')
    assert load_inference_keys(Settings(data_dir=tmp_path)).owner(ALICE) is not None


def test_bad_key_settings_stop_start_up(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("short\n")
    with pytest.raises(StartupError, match="key 1 is shorter"):
        load_inference_keys(Settings(data_dir=tmp_path, inference_tokens_file=path))
    path.write_text("# nothing\n")
    with pytest.raises(StartupError, match="no inference key"):
        load_inference_keys(Settings(data_dir=tmp_path, inference_tokens_file=path))
    both = Settings(
        data_dir=tmp_path,
        inference_tokens=[ALICE],  # type: ignore[list-item]
        inference_tokens_file=path,
    )
    with pytest.raises(StartupError, match="both set"):
        load_inference_keys(both)
    with pytest.raises(ValueError, match="16 characters"):
        Settings(inference_tokens=["short"])  # type: ignore[list-item]
