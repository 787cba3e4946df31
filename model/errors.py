"""Errors raised by the ML core. They carry no HTTP codes: `app/api/errors.py` maps them."""

from __future__ import annotations


class ModelError(Exception):
    """Base class of every error the core raises on purpose."""


class CheckpointError(ModelError):
    """A checkpoint file is missing, corrupt, or does not describe a valid model."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class InvalidInput(ModelError):
    """Data handed to the model has the wrong shape or content.

    `location` points at the offending element, e.g. ("inputs", 3, 7).
    """

    def __init__(self, message: str, location: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class UnreadableFile(InvalidInput):
    """An .npy or .npz file that is not a readable array (model/npy.py): not a zip archive, a
    compression other than stored or deflate, a header that is no valid description of an array
    of numbers, data shorter or longer than the header says."""


class DataTooLarge(InvalidInput):
    """Data past its size budget (model/npy.py): more bytes unpacked, or more numbers, than the
    caller allows; or a CSV with more columns or numbers than its reader was given."""


class TrainingCancelled(ModelError):
    """The stop hook asked the training loop to stop before it finished."""


class TrainingFailed(ModelError):
    """Training could not produce a model, e.g. the loss became NaN."""
