"""POST /v1/forecast on series models trained here (the worker's own series metadata: task,
calibration): the path is the model's predictions fed back by hand through /v1/predict, a
noiseless sine is forecast closely, intervals come at the asked levels, and every bad input is
a located 422."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.main import create_app, lifespan
from model.checkpoint import save_checkpoint
from model.config import LSTMConfig
from model.data import make_windows, read_csv_series
from model.forecast import windows_predictor
from model.series_evaluation import series_metadata
from model.series_task import SeriesTask
from model.torch_predictor import TorchPredictor
from model.torch_trainer import train_torch
from model.train_loop import TrainParams, validation_rows
from tests.support.bad_requests import AUTH
from tests.support.checkpoints import write_checkpoint
from tests.support.jobs import submit_async, wait_for_async

pytestmark = pytest.mark.anyio

PERIOD = 25


def sine(start: int, stop: int) -> list[float]:
    return [math.sin(2 * math.pi * t / PERIOD) for t in range(start, stop)]


def train_series_model(path: Path, window: int, horizon: int, validation: float) -> Path:
    """A sine model with its checkpoint's series metadata, as a training job records it."""
    data = make_windows(np.array(sine(0, 400)), window, horizon)
    params = TrainParams(epochs=60, learning_rate=0.01, batch_size=16, seed=0, num_threads=1,
                         validation_split=validation, validation_mode="last",
                         early_stopping_patience=None)  # fmt: skip
    result = train_torch(LSTMConfig(1, 16, 1, 1), data, params)
    task = SeriesTask(window, horizon, (0,), (0,))
    predict = windows_predictor(TorchPredictor(result.checkpoint))
    metadata = series_metadata(task, predict, data, validation_rows(len(data), params))
    metadata.pop("forecast", None)  # the job's metrics, not the checkpoint's
    save_checkpoint(result.checkpoint.with_metadata(**metadata), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("series-models")
    return {
        "sine": train_series_model(folder / "sine.safetensors", 30, 1, 0.25),
        "horizon 3": train_series_model(folder / "h3.safetensors", 20, 3, 0.25),
        "uncalibrated": train_series_model(folder / "bare.safetensors", 30, 1, 0.0),
        "not a series": write_checkpoint(folder / "arrays.safetensors", seed=0),
    }


@pytest.fixture
def small_checkpoint(models: dict[str, Path]) -> Path:
    return models["sine"]


async def _served(settings: Settings, model: Path) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"model": model}))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _forecast(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/v1/forecast", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _rows(values: list[float]) -> list[list[float]]:
    return [[value] for value in values]


async def test_a_noiseless_sine_is_forecast_20_steps_closely(client: httpx.AsyncClient) -> None:
    answer = await _forecast(client, history=_rows(sine(350, 400)), horizon=20)
    path = np.array(answer["forecast"])[:, 0]
    assert path.shape == (20,)
    assert np.abs(path - np.array(sine(400, 420))).max() < 0.05
    assert answer["model"]["version"] == "1"


async def test_the_path_is_the_predictions_fed_back_by_hand(client: httpx.AsyncClient) -> None:
    history = sine(0, 40)
    answer = await _forecast(client, history=_rows(history), horizon=12)
    rows = list(history)
    for _ in range(12):
        window = {"inputs": [_rows(rows[-30:])]}
        predicted = (await client.post("/v1/predict", json=window)).json()["predictions"][0][0]
        rows.append(predicted)
    assert np.allclose(np.array(answer["forecast"])[:, 0], rows[40:], atol=1e-6, rtol=0)


async def test_a_horizon_3_model_rolls_block_by_block(
    settings: Settings, models: dict[str, Path]
) -> None:
    """Steps t+1..t+3 come from the windows ending at t-2, t-1, t (all known); the next three
    read those forecasts."""
    async for client in _served(settings, models["horizon 3"]):
        history = sine(0, 22)  # window 20 + horizon 3 - 1
        answer = await _forecast(client, history=_rows(history), horizon=7)
        rows = list(history)
        for block in range(3):
            ends = [len(rows) - 2 + k for k in range(3)][: 7 - 3 * block]
            windows = {"inputs": [_rows(rows[end - 20 : end]) for end in ends]}
            predicted = (await client.post("/v1/predict", json=windows)).json()["predictions"]
            rows.extend(p[0] for p in predicted)
        assert np.allclose(np.array(answer["forecast"])[:, 0], rows[22:], atol=1e-6, rtol=0)
        short = await client.post("/v1/forecast", json={"history": _rows(history[:21]),
                                                         "horizon": 1})  # fmt: skip
        assert short.status_code == 422 and short.json()["error"]["location"] == ["history"]
        assert "at least 22" in short.json()["error"]["message"]


async def test_intervals_at_the_asked_levels_nest_around_the_path(
    client: httpx.AsyncClient,
) -> None:
    answer = await _forecast(client, history=sine(350, 400), horizon=10, levels=[50, 80, 97.5])
    assert set(answer["intervals"]) == {"50", "80", "97.5"}
    path = np.array(answer["forecast"])
    widths = []
    for level in ("50", "80", "97.5"):
        lower, upper = (np.array(answer["intervals"][level][side]) for side in ("lower", "upper"))
        assert lower.shape == upper.shape == path.shape
        assert np.all(lower <= path) and np.all(path <= upper)
        widths.append(upper - lower)
    assert np.all(widths[0] <= widths[1]) and np.all(widths[1] <= widths[2])
    assert answer["note"] is None


async def test_intervals_stop_where_the_calibration_runs_out(client: httpx.AsyncClient) -> None:
    """48 steps are calibrated; and at 99.9% no step has the 999 residuals it would need."""
    answer = await _forecast(client, history=sine(350, 400), horizon=60, levels=[80, 99.9])
    assert len(answer["forecast"]) == 60
    assert len(answer["intervals"]["80"]["lower"]) == 48
    assert answer["intervals"]["99.9"] == {"lower": [], "upper": []}
    assert "80% (48 steps)" in answer["note"] and "99.9% (0 steps)" in answer["note"]


async def test_a_model_without_calibration_answers_without_intervals(
    settings: Settings, models: dict[str, Path]
) -> None:
    async for client in _served(settings, models["uncalibrated"]):
        answer = await _forecast(client, history=sine(0, 30), horizon=3)
        assert len(answer["forecast"]) == 3 and answer["intervals"] == {}
        assert "without a validation split" in answer["note"]


async def test_the_model_description_shows_its_series_task(client: httpx.AsyncClient) -> None:
    detail = (await client.get("/v1/models/1")).json()
    task = detail["task"]
    assert (task["window"], task["horizon"], task["per_step"]) == (30, 1, False)
    assert task["input_columns"] == task["target_columns"] == [0]
    assert task["forecast"] is None
    assert len(task["input_scaling"]["mean"]) == len(task["target_scaling"]["std"]) == 1
    assert task["calibration"]["steps"] == 48 and task["calibration"]["origins"] > 50
    assert "steps" not in detail["metadata"]["calibration"] or isinstance(
        detail["metadata"]["calibration"]["steps"], int
    )  # the residuals stay in the file


@pytest.mark.parametrize(
    ("body", "status", "location", "words"),
    [
        ({"history": [[0.1]] * 29, "horizon": 2}, 422, ["history"], "at least 30"),
        ({"history": [[0.1]] * 10 + [[float("nan")]] + [[0.1]] * 20, "horizon": 2},
         422, ["history", 10, 0], "finite"),
        ({"history": [[0.1, 0.2]] * 30, "horizon": 2}, 422, ["history", 0], "needs 1 values"),
        ({"history": [[0.1]] * 30, "horizon": 513}, 422, ["horizon"], "at most 512"),
        ({"history": [[0.1]] * 30, "horizon": 0}, 422, ["horizon"], "greater than or equal to 1"),
        ({"history": [[0.1]] * 30, "horizon": 2, "levels": [80, 100]}, 422, ["levels", 1], "less"),
        ({"history": [[0.1]] * 30, "horizon": 2, "levels": [0]}, 422, ["levels", 0], "greater"),
        ({"history": [[0.1]] * 30, "horizon": 2, "model_version": "7"}, 404, ["model_version"],
         "no model version"),
        ({"history": [], "horizon": 2}, 422, ["history"], "empty"),
        ({"history": [[0.1]] * 51, "horizon": 2}, 413, ["history"], "at most 50 per sequence"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_located_error(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, location: list[Any], words: str
) -> None:
    answer = await client.post(
        "/v1/forecast",
        content=json.dumps(body).encode(),  # NaN as Python's json writes it
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["location"] == location and words in error["message"]


async def test_a_model_not_trained_on_a_series_cannot_forecast(
    settings: Settings, models: dict[str, Path]
) -> None:
    async for client in _served(settings, models["not a series"]):
        answer = await client.post("/v1/forecast", json={"history": [[0.0] * 3] * 5, "horizon": 2})
        assert answer.status_code == 422
        assert answer.json()["error"]["location"] == ["model_version"]
        assert "not trained on a series" in answer.json()["error"]["message"]


async def test_a_job_on_a_csv_series_records_its_task_errors_and_calibration(
    client: httpx.AsyncClient,
) -> None:
    """A CSV with a date column and two series: the model reads and predicts both by name, and
    its version shows the task, the errors beside persistence and seasonal naive (the season
    found: 25 steps), the intervals' coverage; it forecasts both columns."""
    angles = [2 * math.pi * i / PERIOD for i in range(300)]
    lines = ["year,level,other"] + [
        f"{2000 + i},{math.sin(angle):.6f},{math.cos(angle):.6f}" for i, angle in enumerate(angles)
    ]
    csv = ("\n".join(lines) + "\n").encode()
    headers = {**AUTH, "content-type": "text/csv"}
    dataset = (await client.post("/v1/datasets", content=csv, headers=headers)).json()
    body = {
        "data": {"dataset_id": dataset["id"], "window": 30, "columns": ["level", "other"],
                 "target_columns": ["level", "other"]},
        "model": {"hidden_size": 8},
        "training": {"epochs": 5, "validation_split": 0.3},
    }  # fmt: skip
    job = await wait_for_async(client, (await submit_async(client, body))["id"])
    assert job["state"] == "succeeded", job
    forecast = job["result"]["forecast"]
    assert forecast["season"] == PERIOD and forecast["steps"] == 48
    assert set(forecast["mse_one_step"]) == {"model", "persistence", "seasonal_naive"}
    assert forecast["mse_one_step"]["seasonal_naive"] < 1e-9  # a whole period: exact
    assert 0 < forecast["coverage"]["80"]["one_step"] <= 1
    detail = (await client.get(f"/v1/models/{job['model_version']}")).json()
    assert detail["metrics"]["forecast"] == forecast
    task = detail["task"]
    assert task["input_columns"] == task["target_columns"] == ["level", "other"]
    assert task["calibration"]["source"] == "the job's validation split"
    history = [[math.sin(2 * math.pi * i / PERIOD), math.cos(2 * math.pi * i / PERIOD)]
               for i in range(30)]  # fmt: skip
    body = {"history": history, "horizon": 4, "model_version": job["model_version"]}
    answer = await _forecast(client, **body)
    assert np.array(answer["forecast"]).shape == (4, 2)
    assert np.array(answer["intervals"]["95"]["upper"]).shape == (4, 2)


SUNSPOTS_CSV = Path(__file__).resolve().parents[3] / "data" / "sunspots.csv"
SHIPPED = Path(__file__).resolve().parents[3] / "model" / "pretrained" / "sunspots.safetensors"


async def test_the_shipped_sunspot_model_s_intervals_cover_the_test_years(
    settings: Settings,
) -> None:
    """One year ahead over 1921..1987, years its calibration never used: the 80% interval
    covers 70-90% of them, the 95% one 88-99%."""
    _, table = read_csv_series(SUNSPOTS_CSV, ["YEAR", "SUNACTIVITY"])
    years, values = table[:, 0].astype(int), table[:, 1]
    covered = {"80": 0, "95": 0}
    test_years = range(1921, 1988)
    async for client in _served(settings, SHIPPED):
        detail = (await client.get("/v1/models/1")).json()
        assert detail["task"]["window"] == 12
        assert detail["task"]["input_columns"] == ["SUNACTIVITY"]
        for year in test_years:
            row = int(np.flatnonzero(years == year)[0])
            history = values[row - 12 : row].tolist()  # the 12 years before it
            answer = await _forecast(client, history=history, horizon=1)
            for level, band in answer["intervals"].items():
                covered[level] += band["lower"][0][0] <= values[row] <= band["upper"][0][0]
    rates = {level: count / len(test_years) for level, count in covered.items()}
    assert 0.70 <= rates["80"] <= 0.90 and 0.88 <= rates["95"] <= 0.99, rates
