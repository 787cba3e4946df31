"""The dashboard in a real headless Chromium against a real server: every page loads clean
(no console error, no failed request: a Content-Security-Policy violation would be a console
error), a job started from an uploaded CSV draws a loss curve that grows, activation and roll
back from the page change what /v1/predict answers, the forecast page draws its interval bands,
and the predict page carries a state from one answer into the next request. Screenshots go to
$DASHBOARD_SCREENSHOTS, or a pytest temporary directory (`make screenshots` copies two of them
into docs/img/)."""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from model.checkpoint import save_checkpoint
from model.config import LSTMConfig
from tests.support.bad_requests import AUTH, TOKEN
from tests.support.browser import Tab, chromium, open_tab, screenshot_dir
from tests.support.checkpoints import make_checkpoint
from tests.support.jobs import submit, wait_for
from tests.support.servers import Server, clean_env, running_server

pytestmark = pytest.mark.integration

PAGES = {
    "models": "#/models",
    "model": "#/models/1",
    "jobs": "#/jobs",
    "train": "#/train",
    "forecast": "#/forecast",
    "predict": "#/predict",
}
SUNSPOTS = Path(__file__).resolve().parents[2] / "data" / "sunspots.csv"
HORIZON = 12  # forecast steps
SINE_INPUTS = [[[round(math.sin(0.3 * i), 6)] for i in range(8)]]


def sine_csv(rows: int) -> str:
    """A noisy sine wave: the noise gives the forecast intervals a visible width."""
    noise = random.Random(0)
    values = (math.sin(0.3 * i) + noise.gauss(0.0, 0.1) for i in range(rows))
    return "t,value\n" + "".join(f"{i},{value:.6f}\n" for i, value in enumerate(values))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Version 1: a random one-input model, so that a sine model trained here can replace it
    and the same request gets another prediction."""
    folder = tmp_path_factory.mktemp("dashboard")
    model = folder / "one-input.safetensors"
    save_checkpoint(make_checkpoint(seed=3, config=LSTMConfig(1, 8, 1, 1)), model)
    env = clean_env(api_token=TOKEN)
    with running_server(folder / "var", "--model", str(model), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def trained(served: Server) -> str:
    """A sine series model trained over the API (activate: never): its version."""
    with served.client() as client:
        upload = client.post(
            "/v1/datasets", content=sine_csv(200), headers={**AUTH, "content-type": "text/csv"}
        )
        assert upload.status_code == 201, upload.text
        data = {"dataset_id": upload.json()["id"], "window": 8, "columns": ["value"]}
        training = {"epochs": 20, "learning_rate": 0.02, "batch_size": 16}
        body = {"data": data, "model": {"hidden_size": 8}, "training": training}
        job = wait_for(client, submit(client, {**body, "activate": "never"})["id"])
    assert job["state"] == "succeeded", job
    version: str = job["model_version"]
    return version


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory)


@pytest.fixture
def tab(browser: Browser, served: Server) -> Iterator[Tab]:
    with open_tab(browser, served.url) as tab:
        yield tab


def open_page(page: Page, route: str) -> None:
    page.goto(f"/ui/{route}")
    page.wait_for_load_state("networkidle")


def give_token(page: Page) -> None:
    page.get_by_label("Management token").fill(TOKEN)
    page.get_by_role("button", name="Use for this tab").click()
    expect(page.locator("#token-status")).to_have_text("A token is set for this tab.")


def predict(client: httpx.Client, **options: Any) -> dict[str, Any]:
    response = client.post("/v1/predict", json={"inputs": SINE_INPUTS, **options})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_every_page_loads_without_console_errors_or_failed_requests(
    tab: Tab, screenshots: Path
) -> None:
    tab.page.goto("/")  # the root sends the browser to the dashboard
    expect(tab.page).to_have_url(f"{tab.page.url.split('/ui/')[0]}/ui/#/models")
    for name, route in PAGES.items():
        open_page(tab.page, route)
        expect(tab.page.locator("h1")).to_be_visible()
        assert tab.page.locator(f'nav a[aria-current="page"][href="#/{name}"]').count() == (
            0 if name == "model" else 1
        )
        tab.page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    assert tab.problems == []


def test_a_job_started_from_an_uploaded_csv_draws_a_growing_loss_curve(
    tab: Tab, served: Server, tmp_path: Path, screenshots: Path
) -> None:
    page = tab.page
    csv = tmp_path / "sine.csv"
    csv.write_text(sine_csv(400))
    open_page(page, "#/train")
    give_token(page)
    page.get_by_label("CSV file").set_input_files(csv)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#messages")).to_contain_text("Uploaded sine.csv: 400 rows")
    page.get_by_role("group", name="Input columns").get_by_label("value").check()
    page.get_by_role("group", name="Input columns").get_by_label("t").uncheck()
    page.get_by_role("group", name="Target columns").get_by_label("value").check()
    for label, value in [("Window", "8"), ("Hidden size", "8"), ("Epochs", "40"),
                         ("Batch size", "4"), ("Learning rate", "0.01")]:  # fmt: skip
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url("**/ui/#/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    chart = page.locator("#loss-chart")
    page.wait_for_function("() => document.querySelector('#loss-chart')?.dataset.points > 0")
    first = int(chart.get_attribute("data-points") or 0)
    assert page.locator("[data-state]").get_attribute("data-state") == "running"
    page.wait_for_function(
        f"() => document.querySelector('#loss-chart').dataset.points > {first}", timeout=60_000
    )
    expect(page.locator('[data-state="succeeded"]')).to_be_attached(timeout=60_000)
    with served.client() as client:
        history = client.get(f"/v1/train/{job_id}").json()["history"]
    assert 0 < first < len(history) == int(chart.get_attribute("data-points") or 0)
    page.screenshot(path=screenshots / "job.png", full_page=True)
    assert tab.problems == []


def test_activation_and_roll_back_from_the_page_change_the_predictions(
    tab: Tab, served: Server, trained: str
) -> None:
    page = tab.page
    with served.client() as client:
        before = predict(client)
        assert before["model"]["version"] == "1"
        open_page(page, "#/models")
        versions = page.get_by_role("table", name="Stored versions").locator("tbody tr")
        expect(versions.nth(1)).to_contain_text("MSE, 1 step ahead: model")  # a series model's
        expect(versions.nth(1)).to_contain_text("persistence")
        assert "persistence" not in versions.nth(0).inner_text()  # none for version 1
        activate = page.get_by_role("button", name=f"Activate version {trained}")
        activate.click()  # no token yet: the 401 is shown where screen readers hear it
        expect(page.locator("#messages")).to_contain_text("Error 401 unauthorized")
        assert page.locator("#messages").get_attribute("aria-live") == "assertive"
        assert all("401" in problem for problem in tab.problems)
        tab.problems.clear()
        give_token(page)
        activate.click()
        expect(page.locator("#messages")).to_contain_text(f"Version {trained} is active")
        after = predict(client)
        assert after["model"]["version"] == trained
        assert after["predictions"] == predict(client, model_version=trained)["predictions"]
        assert after["predictions"] != before["predictions"]
        page.get_by_role("button", name="Roll back to version 1").click()
        expect(page.locator("#messages")).to_contain_text("Version 1 is active")
        assert predict(client) == before
    assert tab.problems == []


def test_the_forecast_page_draws_the_forecast_with_its_interval_bands(
    tab: Tab, served: Server, trained: str, screenshots: Path
) -> None:
    page = tab.page
    open_page(page, "#/forecast")
    page.get_by_label("Model version").select_option(trained)
    expect(page.locator(".model-note")).to_contain_text("at least 8 steps of history")
    history = "\n".join(f"{math.sin(0.3 * i):.6f}" for i in range(160, 200))
    page.get_by_label("History: one step per line").fill(history)
    page.get_by_label("Horizon").fill(str(HORIZON))
    page.get_by_role("button", name="Forecast").click()
    chart = page.locator("#forecast-chart")
    expect(chart).to_have_attribute("data-bands", "2")  # 80 and 95, as uPlot bands
    expect(chart).to_have_attribute("data-points", str(HORIZON))
    assert chart.locator("canvas").count() == 1
    rows = page.get_by_role("table", name="Forecast and intervals").locator("tbody tr")
    expect(rows).to_have_count(HORIZON)
    expect(page.locator(".forecast-result")).not_to_contain_text("null")
    with served.client() as client:
        body = {
            "history": [[float(v)] for v in history.split()],
            "horizon": HORIZON,
            "model_version": trained,
        }
        expected = client.post("/v1/forecast", json=body).json()
    first_row = rows.first.locator("td")
    assert float(first_row.nth(1).inner_text()) == pytest.approx(
        expected["forecast"][0][0], rel=1e-3
    )
    page.screenshot(path=screenshots / "forecast.png", full_page=True)
    assert tab.problems == []


def test_the_forecast_page_prefills_the_sunspots_for_the_shipped_model(
    browser: Browser, tmp_path: Path, screenshots: Path
) -> None:
    env = clean_env(api_token=TOKEN)
    with (
        running_server(tmp_path / "var", env=env) as shipped,
        open_tab(browser, shipped.url) as tab,
    ):
        page = tab.page
        open_page(page, "#/forecast")
        expect(page.locator(".model-note")).to_contain_text("yearly sunspot numbers")
        history = page.get_by_label("History: one step per line").input_value().split("\n")
        with SUNSPOTS.open(newline="") as file:
            years = list(csv.DictReader(file))
        assert [float(value) for value in history] == [float(y["SUNACTIVITY"]) for y in years]
        page.get_by_role("button", name="Forecast").click()
        expect(page.locator("#forecast-chart")).to_have_attribute("data-bands", "2")
        rows = page.get_by_role("table", name="Forecast and intervals").locator("tbody tr")
        expect(rows).to_have_count(10)
        expect(rows.first.locator("td").first).to_have_text("2009")  # years, not step numbers
        page.screenshot(path=screenshots / "forecast-sunspots.png", full_page=True)
        assert tab.problems == []


def test_the_predict_page_sends_a_returned_state_back_as_the_next_initial_state(
    tab: Tab, served: Server, screenshots: Path
) -> None:
    page = tab.page
    first, second = [[[0.5], [0.1], [0.3]]], [[[0.2], [0.4]]]
    open_page(page, "#/predict")
    page.get_by_label("Inputs").fill(json.dumps(first))
    expect(page.get_by_label("Return the final state")).to_be_checked()
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.locator('[data-round="1"] .state')).to_be_attached()
    page.get_by_label("Inputs").fill(json.dumps(second))
    page.get_by_role("button", name="Continue from the state of answer 1").click()
    round_two = page.locator('[data-round="2"]')
    expect(round_two).to_have_attribute("data-from", "1")
    expect(round_two).to_contain_text("initial state: the state returned by answer 1")
    returned = json.loads(page.locator('[data-round="1"] .state').text_content() or "")
    assert json.loads(page.get_by_label("Initial state").input_value()) == returned
    streamed = json.loads(round_two.locator(".predictions").inner_text())
    with served.client() as client:
        whole = client.post("/v1/predict", json={"inputs": [first[0] + second[0]]}).json()
    assert streamed[0] == pytest.approx(whole["predictions"][0], abs=1e-5)
    page.screenshot(path=screenshots / "predict.png", full_page=True)
    assert tab.problems == []
