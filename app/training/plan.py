"""A training request, checked completely before a job exists: the data built and validated
(inline arrays, a series cut into windows, or an uploaded data set), the limits, the
hyperparameters, the split and the base model of a fine-tuning run. Any problem is a 404, 409,
413 or 422 and no job is created; the worker then starts from data that is known to train."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

from app.core.errors import LimitExceeded, UnknownDataset
from app.core.settings import Settings
from app.protocol.v1.schemas import ModelSpec, TrainData, TrainRequest
from app.registry.store import ModelStore
from app.training.datasets import Dataset, DatasetStore
from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import Samples, SequenceData, from_arrays, load_data, make_windows
from model.errors import InvalidInput
from model.series_task import Column, SeriesTask
from model.train_loop import TrainParams, check_sizes, split_data
from model.windows import SeriesWindows

DataKind = Literal["arrays", "windows"]  # windows overlap: their default split keeps time order
_PARAM_NAMES = {field.name for field in dataclasses.fields(TrainParams)}


@dataclass(frozen=True)
class JobPlan:
    data: Samples
    spec: dict[str, Any]  # model (LSTMConfig), training (TrainParams), init_from, activate
    data_sha256: str | None = None  # a data set's file trained on as it is: its known sha256


def plan_job(
    request: TrainRequest, settings: Settings, store: ModelStore, datasets: DatasetStore
) -> JobPlan:
    data, kind = build_data(request.data, settings, datasets)
    check_data_limits(data, settings)
    params = build_params(request, kind, settings)
    base = _base_model(request.init_from, store)
    config = _config(request, data, base)
    check_model_bounds(config, request, settings)
    try:  # the sizes and the split, as the worker's `prepare` checks them (scaling can't fail)
        check_sizes(config, data)
        split_data(data, params)
    except InvalidInput as exc:
        part = "training" if exc.location[:1] and exc.location[0] in _PARAM_NAMES else "data"
        raise InvalidInput(exc.message, (part, *exc.location)) from exc
    training = {key: value for key, value in asdict(params).items() if key != "num_threads"}
    spec: dict[str, Any] = {
        "model": config.to_dict(),
        "training": training,
        "checkpointing": {"every": request.training.checkpoint_every},
        "device": request.training.device,
        "processes": request.training.processes,
        "init_from": request.init_from,
        "activate": request.activate,
    }
    if kind == "windows":
        spec["task"] = _series_task(request.data, data, datasets).to_dict()
    if isinstance(data, SeriesWindows):  # trained from the data set's file, memory-mapped
        windows = {"window": data.window, "horizon": data.horizon, "per_step": data.per_step}
        spec["windows"] = {**windows, "target_columns": list(data.targets_at)}
        dataset = datasets.get(request.data.dataset_id or "")
        if dataset is None:  # deleted since it was read
            raise UnknownDataset(f"no data set {request.data.dataset_id!r}", ("data", "dataset_id"))
        return JobPlan(data, spec, dataset.sha256)
    return JobPlan(data, spec)


def _series_task(spec: TrainData, data: Samples, datasets: DatasetStore) -> SeriesTask:
    """What the model of a series is, for its checkpoint: the columns by name for a CSV data
    set, by index for an inline or .npy series (the last column is the default target)."""
    dataset = datasets.get(spec.dataset_id) if spec.dataset_id is not None else None
    columns: list[Column]
    if dataset is not None and dataset.format == "csv":
        columns = list(spec.columns or dataset.summary["columns"])
    else:
        columns = list(range(data.summary()["input_size"]))
    return SeriesTask.of_series(
        spec.window or 0, spec.horizon or 1, columns, spec.target_columns, bool(spec.per_step)
    )


@contextmanager
def located(*prefix: str | int, path: str = "", name: str = "") -> Iterator[None]:
    """InvalidInput from model/ with its location under `prefix` (and `path` named `name`)."""
    try:
        yield
    except InvalidInput as exc:
        message = exc.message.replace(path, name) if path else exc.message
        raise InvalidInput(message, (*prefix, *exc.location)) from exc


def build_data(
    spec: TrainData, settings: Settings, datasets: DatasetStore
) -> tuple[Samples, DataKind]:
    forms = {
        "inputs": spec.inputs is not None or spec.targets is not None,
        "series": spec.series is not None,
        "dataset_id": spec.dataset_id is not None,
    }
    if sum(forms.values()) != 1:
        raise InvalidInput(
            "data needs exactly one of: inputs with targets, a series with a window, "
            "or a dataset_id",
            ("data",),
        )
    if forms["inputs"]:
        return _arrays(spec), "arrays"
    if forms["series"]:
        return _series(spec, settings), "windows"
    return _dataset(spec, settings, datasets)


# The fields that cut a series into windows: meaningless for inputs and targets as they are.
_WINDOWING = ("window", "horizon", "columns", "target_columns", "per_step")


def _arrays(spec: TrainData) -> SequenceData:
    _refuse(
        spec, *_WINDOWING, why="applies to a series or a CSV data set, not to inputs and targets"
    )
    for name in ("inputs", "targets"):
        if getattr(spec, name) is None:
            raise InvalidInput(f"{name} is required with inputs and targets", ("data", name))
    with located("data"):
        return from_arrays(spec.inputs, spec.targets, source="inline")


def _series(spec: TrainData, settings: Settings) -> SequenceData:
    _refuse(spec, "columns", why="names CSV columns; pick series columns by target_columns")
    window = _window(spec)
    series: list[Any] = spec.series or []
    features = len(series[0]) if series and isinstance(series[0], list) else 1
    n_targets = len(spec.target_columns) if spec.target_columns else 1
    per_step = bool(spec.per_step)
    check_window_limits(len(series), features, window, spec.horizon or 1,
                        n_targets * (window if per_step else 1), settings)  # fmt: skip
    with located("data"):
        return make_windows(
            series,
            window,
            spec.horizon or 1,
            spec.target_columns,  # type: ignore[arg-type]
            source="inline series",
            per_step=per_step,
        )


def _dataset(
    spec: TrainData, settings: Settings, datasets: DatasetStore
) -> tuple[Samples, DataKind]:
    dataset = datasets.get(spec.dataset_id or "")
    if dataset is None:
        raise UnknownDataset(f"no data set {spec.dataset_id!r}", ("data", "dataset_id"))
    targets = spec.target_columns
    if dataset.format == "csv":
        _check_csv_limits(spec, dataset, settings)
        if targets is not None and not all(isinstance(name, str) for name in targets):
            raise InvalidInput(
                "target_columns of a CSV data set are column names", ("data", "target_columns")
            )
    elif dataset.format == "npy":
        _refuse(spec, "columns", why="names CSV columns; an .npy series is used whole")
        if targets is not None and not all(isinstance(index, int) for index in targets):
            raise InvalidInput(
                "target_columns of an .npy data set are column indices",
                ("data", "target_columns"),
            )
        _window(spec)
    else:
        _refuse(spec, *_WINDOWING, why="applies to a series (CSV or .npy), not .npz")
    name = f"data set {dataset.id}"
    try:
        path = datasets.local_file(dataset)
        with located("data", path=str(path), name=name):
            data = load_data(path, spec.window, spec.horizon or 1, spec.columns, targets,  # type: ignore[arg-type]
                             trusted=True, per_step=bool(spec.per_step))  # fmt: skip
    except (InvalidInput, FileNotFoundError):
        if datasets.get(dataset.id) is None:  # deleted since it was looked up: its file too
            raise UnknownDataset(f"no data set {dataset.id!r}", ("data", "dataset_id")) from None
        raise
    kind: DataKind = "arrays" if dataset.format == "npz" else "windows"
    return dataclasses.replace(data, source=name), kind


def _check_csv_limits(spec: TrainData, dataset: Dataset, settings: Settings) -> None:
    """Before the windows exist: they hold about `window` times the series' numbers."""
    window = _window(spec)
    features = len(spec.columns) if spec.columns else len(dataset.summary["columns"])
    n_targets = len(spec.target_columns) if spec.target_columns else 1
    n_targets *= window if spec.per_step else 1
    rows = int(dataset.summary["rows"])
    check_window_limits(rows, features, window, spec.horizon or 1, n_targets, settings)


def _window(spec: TrainData) -> int:
    if spec.window is None:
        raise InvalidInput("window is required to cut a series into samples", ("data", "window"))
    return spec.window


def _refuse(spec: TrainData, *names: str, why: str) -> None:
    for name in names:
        if getattr(spec, name) is not None:
            raise InvalidInput(f"{name} {why}", ("data", name))


def check_window_limits(
    rows: int, features: int, window: int, horizon: int, n_targets: int, settings: Settings
) -> None:
    samples = max(rows - window - horizon + 1, 0)
    _check_size(samples, samples * (window * features + n_targets), settings)


def check_data_limits(data: Samples, settings: Settings) -> None:
    """Samples bound a job's time; numbers held in memory its memory, so a series trained on
    from disk (memory-mapped) is bounded by its samples alone."""
    if isinstance(data, SeriesWindows):
        _check_size(len(data), 0, settings)
        return
    summary = data.summary()
    targets = summary["output_size"] * (summary["steps"] if summary["per_step"] else 1)
    values = summary["n"] * (summary["steps"] * summary["input_size"] + targets)
    _check_size(len(data), values, settings)


def _check_size(samples: int, values: int, settings: Settings) -> None:
    if samples > settings.max_training_samples:
        raise LimitExceeded(
            f"{samples} training samples; at most {settings.max_training_samples} per job",
            ("data",),
        )
    if values > settings.max_training_values:
        raise LimitExceeded(
            f"{values} numbers of training data; at most {settings.max_training_values} per job",
            ("data",),
        )


def check_model_bounds(config: LSTMConfig, request: TrainRequest, settings: Settings) -> None:
    """The model a job would build, bounded before it is built: its input and output sizes,
    which follow from the data, and its parameter count (memory and time per step grow with
    it). Past any: LimitExceeded, located at what the request sent that set it."""
    base = f"version {request.init_from}'s model" if request.init_from else None
    sizes = (
        ("input_size", "features per step", settings.max_model_input_size),
        ("output_size", "targets per sample", settings.max_model_output_size),
    )
    for name, what, limit in sizes:
        size = getattr(config, name)
        if size > limit:
            raise LimitExceeded(
                f"{base or 'the data'} has {size} {what} ({name}); this server trains models "
                f"of at most {limit}",
                ("init_from",) if base else _data_location(request.data, name),
            )
    count, limit = config.parameter_count, settings.max_model_parameters
    if count > limit:
        shape = ", ".join(
            f"{name} {getattr(config, name)}"
            for name in ("input_size", "hidden_size", "num_layers", "output_size")
        )
        raise LimitExceeded(
            f"{base or 'the model'} has {count} parameters ({shape}); this server trains "
            f"models of at most {limit}"
            + ("" if base else ": make hidden_size or num_layers smaller"),
            ("init_from",) if base else ("model", "hidden_size"),
        )


def _data_location(spec: TrainData, size: str) -> tuple[str, ...]:
    """Where the request set a model's input_size or output_size: the data it sent."""
    if spec.inputs is not None:
        return ("data", "inputs" if size == "input_size" else "targets")
    if size == "output_size":
        return ("data", "target_columns")
    if spec.series is not None:
        return ("data", "series")
    return ("data", "columns" if spec.columns else "dataset_id")


def build_params(request: TrainRequest, kind: DataKind, settings: Settings) -> TrainParams:
    spec = request.training
    if spec.epochs > settings.max_epochs:
        raise InvalidInput(
            f"epochs is {spec.epochs}; this server runs at most {settings.max_epochs}",
            ("training", "epochs"),
        )
    if request.activate == "if_better" and spec.validation_split == 0.0:
        raise InvalidInput(
            "activate=if_better compares validation losses; set validation_split above 0",
            ("training", "validation_split"),
        )
    if spec.processes > settings.max_training_processes:
        raise InvalidInput(
            f"processes is {spec.processes}; this server runs at most "
            f"{settings.max_training_processes} per job",
            ("training", "processes"),
        )
    values = spec.model_dump(exclude={"checkpoint_every", "device", "processes"})
    values["validation_mode"] = spec.validation_mode or ("last" if kind == "windows" else "random")
    with located("training"):
        return TrainParams(**values)


def _base_model(version: str | None, store: ModelStore) -> Checkpoint | None:
    return None if version is None else store.load(version, ("init_from",))


def _config(request: TrainRequest, data: Samples, base: Checkpoint | None) -> LSTMConfig:
    """The architecture: the request's with the data's sizes, or the base version's."""
    summary = data.summary()
    if base is None:
        model = request.model or ModelSpec()
        with located("model"):
            return LSTMConfig(
                summary["input_size"],
                model.hidden_size,
                model.num_layers,
                summary["output_size"],
                model.dropout,
                model.cell,
                model.nonlinearity,
            )
    chosen = ("hidden_size", "num_layers", "dropout", "cell", "nonlinearity")
    if request.model is not None and request.model.model_dump() != {
        name: getattr(base.config, name) for name in chosen
    }:
        raise InvalidInput(
            f"init_from fine-tunes version {request.init_from} with its own architecture; "
            "leave out model or repeat that version's",
            ("model",),
        )
    for name in ("input_size", "output_size"):
        if summary[name] != getattr(base.config, name):
            raise InvalidInput(
                f"the data has {name} {summary[name]} but version {request.init_from} has "
                f"{getattr(base.config, name)}",
                ("init_from",),
            )
    return base.config
