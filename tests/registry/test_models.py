"""The registry: which version starts active, the hot swap, and the LRU of loaded versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import app.registry.models
from app.core.database import open_database
from app.core.errors import ModelUnavailable, NotReady, StartupError, UnknownModelVersion
from app.core.settings import Settings
from app.registry.models import ModelRegistry, open_registry
from app.registry.store import ModelStore
from model.errors import CheckpointError
from model.files import sha256_of_file
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import write_checkpoint

X = np.ones((1, 4, 3), np.float32)
LENGTHS = np.array([4])


def active_after_start(data_dir: Path, model: Path | None = None) -> str | None:
    settings = Settings(data_dir=data_dir, model=model)
    active = open_registry(settings, open_database(data_dir)).active
    return None if active is None else active.version


def test_model_flag_imports_once_and_activates(
    tmp_path: Path, small_checkpoint: Path, other_checkpoint: Path
) -> None:
    data = tmp_path / "var"
    assert active_after_start(data, small_checkpoint) == "1"
    assert active_after_start(data) == "1"
    assert active_after_start(data, other_checkpoint) == "2"
    assert active_after_start(data) == "2"
    assert active_after_start(data, small_checkpoint) == "1"
    assert len(ModelStore(data).versions()) == 2


def test_new_data_dir_serves_the_shipped_model(
    tmp_path: Path, small_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.registry.models, "SHIPPED_MODEL", small_checkpoint)
    assert active_after_start(tmp_path / "var") == "1"
    stored = ModelStore(tmp_path / "var").get("1")
    assert stored is not None and stored.source == {
        "kind": "shipped",
        "path": "small.safetensors",
        "sha256": sha256_of_file(small_checkpoint),
    }


def test_missing_shipped_model_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "pretrained" / "sunspots.safetensors"
    monkeypatch.setattr(app.registry.models, "SHIPPED_MODEL", missing)
    with pytest.raises(CheckpointError, match=r"sunspots\.safetensors: no such file"):
        active_after_start(tmp_path / "var")


def test_store_without_active_pointer_serves_its_newest(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "var")
    for seed in (0, 1):
        store.import_file(write_checkpoint(tmp_path / f"{seed}.safetensors", seed), {})
    assert active_after_start(tmp_path / "var") == "2"


def registry_with_versions(tmp_path: Path, count: int, cache_size: int) -> ModelRegistry:
    store = ModelStore(tmp_path / "var")
    for seed in range(count):
        store.import_file(write_checkpoint(tmp_path / f"{seed}.safetensors", seed), {})
    registry = ModelRegistry(store, "torch", cache_size)
    registry.activate("1")
    return registry


def test_activate_swaps_while_held_predictors_keep_working(tmp_path: Path) -> None:
    registry = registry_with_versions(tmp_path, 2, cache_size=2)
    held = registry.get(None)  # a request in flight
    before = held.predictor.predict(X, LENGTHS).predictions
    registry.activate("2")
    assert registry.get(None).version == "2" and registry.store.active_version() == "2"
    np.testing.assert_array_equal(held.predictor.predict(X, LENGTHS).predictions, before)
    assert registry.get("1").predictor is held.predictor  # kept in the cache


def test_lru_cache_keeps_recent_versions_loaded(tmp_path: Path) -> None:
    registry = registry_with_versions(tmp_path, 4, cache_size=2)
    two, three = registry.get("2").predictor, registry.get("3").predictor
    assert registry.get("2").predictor is two
    registry.get("4")  # evicts 3, the least recently used
    assert registry.get("2").predictor is two
    assert registry.get("3").predictor is not three
    assert registry.get("1").predictor is registry.get(None).predictor


def test_unknown_and_unloadable_versions(tmp_path: Path) -> None:
    registry = registry_with_versions(tmp_path, 2, cache_size=2)
    with pytest.raises(UnknownModelVersion):
        registry.get("9")
    registry.store.checkpoint_path("2").write_bytes(b"garbage")
    with pytest.raises(ModelUnavailable, match="version 2 cannot be loaded"):
        registry.get("2")
    with pytest.raises(ModelUnavailable, match="version 2 cannot be loaded"):
        registry.activate("2")
    assert registry.get(None).version == "1"


def test_no_active_model_is_not_ready(tmp_path: Path) -> None:
    registry = ModelRegistry(ModelStore(tmp_path / "var"), "torch", 1)
    with pytest.raises(NotReady):
        registry.get(None)


def test_a_device_the_backend_cannot_use_stops_the_start(tmp_path: Path) -> None:
    """The NumPy backend on CUDA, or CUDA on a machine without it: the start fails, naming it."""
    numpy_on_cuda = Settings(data_dir=tmp_path / "a", backend="numpy", device="cuda")
    with pytest.raises(StartupError, match="device: the numpy backend runs on the CPU"):
        open_registry(numpy_on_cuda, open_database(tmp_path / "a"))
    on_cuda = Settings(data_dir=tmp_path / "b", device="cuda")
    try:
        if torch.cuda.is_available():
            assert open_registry(on_cuda, open_database(tmp_path / "b")).active is not None
        else:
            with pytest.raises(StartupError, match="no CUDA device"):
                open_registry(on_cuda, open_database(tmp_path / "b"))
    finally:
        TorchPredictor.use_device("cpu")
