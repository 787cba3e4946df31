// Forecast: a series model rolled forward from a history (POST /v1/forecast), drawn with its
// interval bands. The shipped sunspot model's history is prefilled from data/sunspots.json
// (a copy of data/sunspots.csv's numbers that ships with the dashboard).
import { api } from "../api.js";
import { forecastChart } from "../charts.js";
import { field, h, heading, number, table } from "../dom.js";
import { showError } from "../notices.js";
import { isShippedSunspots, versionSelect } from "../versions.js";
import { parseCsv, parseRows } from "../rows.js";

const CHARTED_HISTORY = 100; // steps of history drawn before the forecast

export async function forecastPage(root, { signal }) {
  const { select } = await versionSelect("forecast-version", signal);
  const about = h("div", { class: "model-note", "aria-live": "polite" });
  const history = h("textarea", { id: "history", rows: "10", spellcheck: "false" });
  const file = h("input", {
    id: "history-file",
    type: "file",
    accept: ".csv,.txt,text/csv,text/plain",
  });
  const horizon = h("input", { id: "horizon", type: "number", min: "1", value: "10" });
  const levels = h("input", { id: "levels", type: "text", value: "80, 95" });
  const result = h("div", { class: "forecast-result" });
  // The x axis: years while the sunspot numbers are in the box unchanged, else step numbers.
  let firstYear = null;
  let model = null;
  let chart = null;
  signal.addEventListener("abort", () => chart?.destroy());

  const describe = async () => {
    model = await api(`/v1/models/${encodeURIComponent(select.value)}`, { signal });
    about.replaceChildren(...modelNote(model));
    if (isShippedSunspots(model)) {
      const sunspots = await api("data/sunspots.json", { signal });
      history.value = sunspots.values.join("\n");
      firstYear = sunspots.years[0];
    }
  };
  select.addEventListener("change", () => describe().catch(showError));
  history.addEventListener("input", () => {
    firstYear = null;
  });
  file.addEventListener("change", async () => {
    if (!file.files[0]) return;
    try {
      const rows = parseCsv(await file.files[0].text(), model?.task?.input_columns);
      history.value = rows.map((row) => row.join(", ")).join("\n");
      firstYear = null;
    } catch (error) {
      showError(error);
    }
  });

  const form = h(
    "form",
    { class: "forecast-form", novalidate: true },
    field("Model version", select),
    about,
    field(
      "History: one step per line, its input values separated by commas",
      history,
      "Numbers in your units; the oldest first.",
    ),
    field(
      "Or load the history from a CSV file",
      file,
      "A header row is optional; the model's input columns are used when they are there.",
    ),
    h(
      "div",
      { class: "grid" },
      field("Horizon (steps to forecast)", horizon),
      field("Interval levels in percent", levels, "Comma-separated, for example 80, 95."),
    ),
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Forecast")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = {
        history: parseRows(history.value),
        horizon: Number(horizon.value),
        levels: levels.value
          .split(",")
          .map((level) => level.trim())
          .filter(Boolean)
          .map(Number),
        model_version: select.value,
      };
      const answer = await api("/v1/forecast", { method: "POST", json: body, signal });
      chart?.destroy();
      chart = drawForecast(result, body, answer, firstYear, model);
    } catch (error) {
      showError(error);
    }
  });
  root.append(heading("Forecast"), form, result);
  await describe();
}

function modelNote(model) {
  const notes = [];
  if (isShippedSunspots(model)) {
    notes.push(
      "The shipped sunspot model: the history is prefilled with the yearly sunspot numbers " +
        "1700–2008 (data/sunspots.csv).",
    );
  }
  const task = model.task;
  if (task) {
    const inputs = task.input_columns.join(", ");
    const targets = task.target_columns.join(", ");
    notes.push(
      `Give at least ${task.window} steps of history (the model's window) of ${inputs}; ` +
        `it forecasts ${targets}.`,
    );
    if (task.forecast) notes.push(`It cannot forecast: ${task.forecast}`);
  } else {
    notes.push(
      `Version ${model.version} records no series task (no window): ` +
        "the server answers whether it can forecast.",
    );
  }
  return notes.map((text) => h("p", {}, text));
}

/** The chart (history and forecast of the first target) and a table of every number. */
function drawForecast(result, body, answer, firstYear, model) {
  const steps = body.history.length;
  const horizon = answer.forecast.length;
  // The chart shows the recent history only, where the forecast is still readable beside it.
  const shown = Math.min(steps, CHARTED_HISTORY);
  const start = (firstYear ?? 0) + steps - shown;
  const x = Array.from({ length: shown + horizon }, (_, index) => start + index);
  const intervals = Object.entries(answer.intervals)
    .map(([level, band]) => ({
      level,
      lower: band.lower.map((row) => row[0]),
      upper: band.upper.map((row) => row[0]),
    }))
    .sort((a, b) => Number(b.level) - Number(a.level));
  const target = model?.task?.target_columns?.[0] ?? "output 0";
  // The history line is the target's own input column, when the model reads its target.
  const column = model?.task ? model.task.input_columns.indexOf(target) : 0;
  const levelNames = intervals.map((interval) => `${interval.level}%`).join(" and ");
  const plotArea = h("div", { class: "plot", id: "forecast-chart" });
  const recent = shown < steps ? `the last ${shown} of ${steps} steps` : "history";
  const caption = `${target}: ${recent} and forecast, ${levelNames || "no"} prediction intervals`;
  result.replaceChildren(
    h("h2", {}, `Forecast of ${horizon} steps by version ${answer.model.version}`),
    ...(answer.note ? [h("p", { class: "note" }, answer.note)] : []),
    h("figure", { class: "chart" }, h("figcaption", {}, caption), plotArea),
    forecastTable(answer, intervals, x.slice(shown), firstYear === null ? "Step" : "Year"),
  );
  return forecastChart(plotArea, {
    x,
    xLabel: firstYear === null ? "step" : "year",
    history: body.history.slice(steps - shown).map((row) => (column >= 0 ? row[column] : null)),
    forecast: answer.forecast.map((row) => row[0]),
    intervals,
    yLabel: String(target),
  });
}

function forecastTable(answer, intervals, labels, xName) {
  const columns = [xName, "Forecast"];
  for (const interval of intervals)
    columns.push(`${interval.level}% lower`, `${interval.level}% upper`);
  const rows = answer.forecast.map((row, step) => [
    String(labels[step]),
    row.map(number).join(", "),
    ...intervals.flatMap((interval) => [
      number(interval.lower[step]),
      number(interval.upper[step]),
    ]),
  ]);
  return table("Forecast and intervals (first target column)", columns, rows);
}
