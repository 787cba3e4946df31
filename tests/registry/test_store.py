"""The model store: versions, dedup by sha256, the active pointer, crash-safe files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import torch

from app.core.database import DATABASE_NAME, Connection
from app.core.errors import StartupError, UnknownModelVersion
from app.registry.store import ModelStore, ModelVersion
from model.checkpoint import load_checkpoint
from model.errors import CheckpointError
from model.files import sha256_of_file
from model.lstm import LSTMModel
from tests.support.checkpoints import SMALL_CONFIG, make_checkpoint
from tests.support.jobs import made_long_ago


def test_import_numbers_versions_and_keeps_provenance(
    tmp_path: Path, small_checkpoint: Path, other_checkpoint: Path
) -> None:
    store = ModelStore(tmp_path / "var")
    first = store.import_file(small_checkpoint, {"kind": "import"})
    second = store.import_file(other_checkpoint, {"kind": "import"})
    assert (first.version, second.version) == ("1", "2")
    assert first.source == {"kind": "import", "sha256": sha256_of_file(small_checkpoint)}
    assert first.sha256 == sha256_of_file(store.checkpoint_path("1"))
    assert first.config == SMALL_CONFIG
    assert [v.version for v in store.versions()] == ["1", "2"]
    assert store.get("2") == second and store.get("3") is None
    stored = load_checkpoint(store.checkpoint_path("1"))
    assert stored.tensors.keys() == make_checkpoint(0).tensors.keys()


def test_same_file_is_imported_once(tmp_path: Path, small_checkpoint: Path) -> None:
    store = ModelStore(tmp_path / "var")
    first = store.import_file(small_checkpoint, {})
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(small_checkpoint.read_bytes())
    assert store.import_file(copy, {}) == first
    # The stored file itself is recognised too.
    assert store.import_file(store.checkpoint_path("1"), {}) == first
    assert len(store.versions()) == 1


def test_added_checkpoint_with_identical_file_is_deduplicated(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "var")
    checkpoint = make_checkpoint(0).with_metadata(created_at="2024-01-01T00:00:00+00:00")
    first = store.add(checkpoint, {"kind": "training", "job": "a"})
    again = store.add(checkpoint, {"kind": "training", "job": "b"})
    assert again == first
    assert not (tmp_path / "var" / "models" / "2").exists()


def test_plain_state_dict_pt_is_imported(tmp_path: Path) -> None:
    torch.manual_seed(3)
    path = tmp_path / "model.pt"
    torch.save(LSTMModel(SMALL_CONFIG).state_dict(), path)
    stored = ModelStore(tmp_path / "var").import_file(path, {"kind": "import"})
    assert stored.config == SMALL_CONFIG
    assert stored.metadata["imported_from"] == "model.pt"


def test_corrupt_file_is_refused_and_adds_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 40)
    store = ModelStore(tmp_path / "var")
    with pytest.raises(CheckpointError) as raised:
        store.import_file(bad, {})
    assert str(bad) in str(raised.value)
    assert store.versions() == []


def test_active_pointer_persists(tmp_path: Path, small_checkpoint: Path) -> None:
    store = ModelStore(tmp_path / "var")
    assert store.active_version() is None
    store.import_file(small_checkpoint, {})
    store.set_active("1")
    assert ModelStore(tmp_path / "var").active_version() == "1"
    with pytest.raises(UnknownModelVersion):
        store.set_active("2")
    assert store.active_version() == "1"


def test_database_uses_wal(tmp_path: Path) -> None:
    ModelStore(tmp_path / "var")
    with sqlite3.connect(tmp_path / "var" / DATABASE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"model_versions", "active_model"} <= tables


def test_corrupt_database_names_the_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "lstm-serve.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StartupError, match=r"lstm-serve\.db: file is not a database"):
        ModelStore(data_dir)


def test_a_failing_on_added_stores_neither_row_nor_file(tmp_path: Path) -> None:
    """Registering a version and its job's success are one transaction."""
    store = ModelStore(tmp_path / "var")

    def fail(db: Connection, stored: ModelVersion) -> None:
        assert store.checkpoint_path(stored.version).is_file()  # written before the row
        db.execute("CREATE TABLE written_inside (x)")
        raise RuntimeError("the job was cancelled meanwhile")

    with pytest.raises(RuntimeError):
        store.add(make_checkpoint(0), {"kind": "training"}, on_added=fail)
    assert store.versions() == []
    assert not (tmp_path / "var" / "models" / "1").exists()
    with sqlite3.connect(tmp_path / "var" / DATABASE_NAME) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "written_inside" not in tables  # rolled back with the version
    seen: list[str] = []
    stored = store.add(make_checkpoint(0), {}, on_added=lambda db, v: seen.append(v.version))
    assert seen == ["1"] and stored.version == "1"


def test_remove_orphans_deletes_only_old_directories_without_a_row(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "var")
    store.add(make_checkpoint(0), {})
    orphan, young = tmp_path / "var" / "models" / "2", tmp_path / "var" / "models" / "3"
    for directory in (orphan, young):
        directory.mkdir()
        (directory / ".model.safetensors.abc.tmp").write_bytes(b"half")  # a crash mid-write
    made_long_ago(orphan)
    made_long_ago(store.checkpoint_path("1").parent)
    # `young` may be another server process's checkpoint on its way to its row: it stays.
    assert store.remove_orphans() == ["2"]
    assert not orphan.exists() and young.exists() and store.checkpoint_path("1").is_file()
