"""Read a plain `state_dict` saved with `torch.save(model.state_dict(), "model.pt")` from the
classic model, as NumPy arrays by key; `model.checkpoint` makes the checkpoint of them.
`weights_only=True` refuses anything but tensors and plain containers, and there is no fallback
to full unpickling: a file that needs it is refused."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.errors import CheckpointError

# Containers that training scripts often wrap a state_dict in; unwrapped on import.
_STATE_DICT_WRAPPERS = ("state_dict", "model_state_dict")


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The file's tensors as float32 arrays, by state-dict key."""
    source = str(path)
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(source, _unpickling_problem(exc)) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            source, f"corrupt or truncated .pt file ({_first_line(exc)})"
        ) from exc
    state_dict = _unwrap(loaded, source)
    return {key: value.detach().to(torch.float32).numpy() for key, value in state_dict.items()}


def _unwrap(loaded: Any, source: str) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict):
        for wrapper in _STATE_DICT_WRAPPERS:
            if isinstance(loaded.get(wrapper), dict):
                loaded = loaded[wrapper]
                break
    if not isinstance(loaded, dict) or not loaded:
        raise CheckpointError(source, f"expected a dict of tensors, found {type(loaded).__name__}")
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(source, f"entry {key!r} is not a named tensor")
        if not value.is_floating_point():
            raise CheckpointError(source, f"{key} must hold floating-point values")
    return loaded


def _unpickling_problem(exc: pickle.UnpicklingError) -> str:
    """torch's message advises `weights_only=False`, which we never do: keep only the reason."""
    reason = str(exc).partition("WeightsUnpickler error:")[2].strip() or _first_line(exc)
    reason = reason.splitlines()[0].partition(" was not an allowed global")[0]
    if reason.startswith("Unsupported global"):
        return (
            f"not a plain state_dict: it holds Python objects ({reason}); refusing to unpickle it. "
            "Save model.state_dict() instead of the model"
        )
    return f"corrupt or not a PyTorch file ({reason})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
