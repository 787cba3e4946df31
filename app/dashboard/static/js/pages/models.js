// Models: every stored version with its metrics and provenance, the active one marked;
// activate a version, roll back to the one active before; one version's details.
import { api } from "../api.js";
import { details, h, heading, number, table, when } from "../dom.js";
import { showError, showInfo } from "../notices.js";
import { FORECASTERS, baselineText, baselines, provenance } from "../versions.js";

// The version that was active before this tab's last activation: what "Roll back" restores.
const PREVIOUS_KEY = "lstm-serve.previous-active";

export async function modelsPage(root, { signal }) {
  root.append(heading("Models"));
  const body = h("div");
  root.append(body);
  const render = async () => {
    const list = await api("/v1/models", { signal });
    body.replaceChildren(rollback(list, render), versionsTable(list, render));
  };
  await render();
}

function versionsTable(list, render) {
  const rows = list.versions.map((version) => [
    h(
      "a",
      { href: `#/models/${encodeURIComponent(version.version)}` },
      `version ${version.version}`,
    ),
    version.active ? h("strong", { class: "active-marker" }, "active") : "",
    when(version.created_at),
    provenance(version.source),
    number(version.metrics?.val_mse),
    baselineText(version.metrics),
    version.active ? "" : activateButton(version.version, render),
  ]);
  return table(
    "Stored versions, oldest first",
    ["Version", "Active", "Created", "Source", "Validation MSE", "Baselines", "Action"],
    rows,
  );
}

function activateButton(version, render, label = `Activate version ${version}`) {
  return h("button", { type: "button", onclick: () => activate(version, render) }, label);
}

function rollback(list, render) {
  const previous = sessionStorage.getItem(PREVIOUS_KEY);
  const known = list.versions.some((version) => version.version === previous);
  if (!previous || !known || previous === list.active) {
    return h("p", { class: "hint" }, "Roll back appears here after an activation from this tab.");
  }
  return h(
    "p",
    {},
    activateButton(previous, render, `Roll back to version ${previous}`),
    ` (active before version ${list.active})`,
  );
}

async function activate(version, render) {
  try {
    const answer = await api(`/v1/models/${encodeURIComponent(version)}/activate`, {
      method: "POST",
      management: true,
    });
    if (answer.previous) sessionStorage.setItem(PREVIOUS_KEY, answer.previous);
    showInfo(`Version ${answer.active} is active (was ${answer.previous ?? "none"}).`);
    await render();
  } catch (error) {
    showError(error);
  }
}

export async function modelPage(root, { signal }, version) {
  root.append(heading(`Model version ${version}`));
  const body = h("div");
  root.append(body);
  const render = async () => {
    const model = await api(`/v1/models/${encodeURIComponent(version)}`, { signal });
    body.replaceChildren(...modelDetails(model, render));
  };
  await render();
}

function modelDetails(model, render) {
  const config = model.config;
  const facts = details([
    ["State", model.active ? "active" : "stored, not active"],
    ["Created", when(model.created_at)],
    ["Source", provenance(model.source)],
    ["Architecture", `${config.cell}, ${config.num_layers} layer(s) of ${config.hidden_size}`],
    ["Inputs, outputs", `${config.input_size} in, ${config.output_size} out`],
    ["Validation MSE", number(model.metrics?.val_mse)],
    ["sha256", h("code", {}, model.sha256)],
  ]);
  const parts = [facts];
  if (!model.active) parts.push(h("p", {}, activateButton(model.version, render)));
  const rows = baselines(model.metrics);
  if (rows.length) parts.push(h("h2", {}, "Baselines"), baselineTable(rows, model.metrics));
  if (model.task) parts.push(h("h2", {}, "Series task"), taskFacts(model.task));
  parts.push(
    h("h2", {}, "Metrics and metadata"),
    h(
      "details",
      {},
      h("summary", {}, "Metrics (JSON)"),
      h("pre", {}, JSON.stringify(model.metrics, null, 2)),
    ),
    h(
      "details",
      {},
      h("summary", {}, "Checkpoint metadata (JSON)"),
      h("pre", {}, JSON.stringify(model.metadata, null, 2)),
    ),
  );
  return parts;
}

function baselineTable(rows, metrics) {
  const names = FORECASTERS.map((name) => name.replace("_", " "));
  const cells = rows.map((row) => [row.label, ...FORECASTERS.map((name) => number(row[name]))]);
  const note = metrics.forecast.season_note;
  return h(
    "div",
    {},
    table("The model's validation errors beside the naive forecasts'", ["Error", ...names], cells),
    note ? h("p", { class: "hint" }, note) : null,
  );
}

function taskFacts(task) {
  return details([
    ["Window", `${task.window} steps (the least history a forecast needs)`],
    ["Horizon", `${task.horizon} step(s) ahead`],
    ["Input columns", task.input_columns.join(", ")],
    ["Target columns", task.target_columns.join(", ")],
    ["Forecasts", task.forecast ? `no: ${task.forecast}` : "yes"],
  ]);
}
