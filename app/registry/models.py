"""Model versions in memory: the active `Predictor`, a small LRU cache of other versions (for
`model_version` requests and sessions pinned to an older version), and the hot swap."""

from __future__ import annotations

import threading
from collections import OrderedDict
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

from app.core.database import Database
from app.core.errors import NotReady, StartupError
from app.core.settings import Settings
from app.registry.store import ModelStore
from model import backends
from model.backends import Backend
from model.checkpoint import Checkpoint, load_checkpoint
from model.errors import InvalidInput
from model.inference import Predictor

# Served on a new data directory when no --model is given.
SHIPPED_MODEL = Path(str(files("model").joinpath("pretrained", "sunspots.safetensors")))


class LoadedModel(NamedTuple):
    version: str
    predictor: Predictor


def predictor_class(backend: Backend) -> type[Predictor]:
    """The backend's Predictor class; StartupError when it cannot be imported."""
    try:
        return backends.predictor_class(backend)
    except ImportError as exc:
        raise StartupError(f"backend {backend!r} is not available: {exc}") from exc


class ModelRegistry:
    def __init__(self, store: ModelStore, backend: Backend, cache_size: int) -> None:
        self.store = store
        self.backend = backend
        self._predictor_class = predictor_class(backend)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Predictor] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self._activation_lock = threading.Lock()
        self._active: LoadedModel | None = None

    @property
    def active(self) -> LoadedModel | None:
        """Read once per request: a swap never changes the object a request already holds."""
        return self._active

    def get(self, version: str | None) -> LoadedModel:
        """The active model (version None) or the given version, loading it if needed."""
        if version is None:
            active = self._active
            if active is None:
                raise NotReady("no model is active yet")
            return active
        return self._loaded(version)

    def activate(self, version: str, checkpoint: Checkpoint | None = None) -> LoadedModel:
        """Load `version`, record it as active, then swap it in with one assignment; requests in
        flight finish on the predictor they started with. Raises UnknownModelVersion or
        ModelUnavailable."""
        loaded = self._loaded(version, checkpoint)
        # One activation at a time: the pointer in the database and the one in memory always
        # end on the same version, whichever of two concurrent activations comes last.
        with self._activation_lock:
            self.store.set_active(version)
            with self._lock:
                previous, self._active = self._active, loaded
                self._cache.pop(version, None)
                if previous is not None and previous.version != version:
                    self._remember(previous)
        return loaded

    def follow(self, version: str) -> LoadedModel:
        """Swap in `version`, which another process activated (its pointer is in the database
        already), as `activate` would; a no-op when it is active here."""
        loaded = self._loaded(version)
        with self._activation_lock, self._lock:
            previous, self._active = self._active, loaded
            self._cache.pop(version, None)
            if previous is not None and previous.version != version:
                self._remember(previous)
        return loaded

    def _loaded(self, version: str, checkpoint: Checkpoint | None = None) -> LoadedModel:
        """`checkpoint`: the version's, when the caller has read it already."""
        active = self._active
        if active is not None and active.version == version:
            return active
        with self._lock:
            predictor = self._cache.get(version)
            if predictor is not None:
                self._cache.move_to_end(version)
                return LoadedModel(version, predictor)
        # Loaded outside the lock: a slow load never holds up requests for cached versions.
        if checkpoint is None:
            checkpoint = self.store.load(version, ("model_version",))
        loaded = LoadedModel(version, self._predictor_class(checkpoint))
        with self._lock:
            self._remember(loaded)
        return loaded

    def _remember(self, loaded: LoadedModel) -> None:
        """Cache a non-active version; the caller holds the lock."""
        self._cache[loaded.version] = loaded.predictor
        self._cache.move_to_end(loaded.version)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def open_registry(settings: Settings, db: Database) -> ModelRegistry:
    """Open the store and activate the model to serve: `settings.model` imported (once), else
    the store's active version, else its newest, else the shipped model on a new data dir."""
    store = ModelStore(settings.data_dir, db)
    registry = ModelRegistry(store, settings.backend, settings.model_cache_size)
    backend = predictor_class(settings.backend)
    try:
        backend.use_device(settings.device)
    except InvalidInput as exc:
        raise StartupError(f"device: {exc}") from exc
    # Before any model loads: ONNX Runtime fixes a session's threads when it builds it.
    backend.use_threads(settings.torch_threads)
    version = _startup_version(store, settings.model)
    # Read here rather than through the store's errors for clients: a start-up that fails names
    # the file and its problem (a CheckpointError) for the operator.
    registry.activate(version, load_checkpoint(store.checkpoint_file(version)))
    return registry


def _startup_version(store: ModelStore, model: Path | None) -> str:
    if model is not None:
        # The file's name only: an answer never shows where the server keeps its files.
        source = {"kind": "import", "path": model.name}
        return store.import_file(model, source).version
    active = store.active_version()
    if active is not None:
        return active
    versions = store.versions()
    if versions:
        return versions[-1].version
    return store.import_file(SHIPPED_MODEL, {"kind": "shipped", "path": SHIPPED_MODEL.name}).version
