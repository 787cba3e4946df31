// Start a job: upload a CSV (POST /v1/datasets, the file itself as the text/csv body) or pick
// an uploaded one, choose its input and target columns, the window, horizon and
// hyperparameters, then POST /v1/train and follow the job on its page.
import { api } from "../api.js";
import { field, h, heading } from "../dom.js";
import { PageError, showError, showInfo } from "../notices.js";

export async function trainPage(root, { signal }) {
  const datasets = (await api("/v1/datasets", { signal })).datasets.filter(
    (set) => set.format === "csv",
  );
  const picker = h("select", { id: "dataset" });
  const columns = h("div", { class: "columns" });
  const choose = () => {
    const chosen = datasets.find((set) => set.id === picker.value);
    columns.replaceChildren(
      ...(chosen
        ? columnPickers(chosen.summary.columns)
        : [h("p", {}, "Upload or choose a CSV data set first.")]),
    );
  };
  const list = () => {
    picker.replaceChildren(
      h("option", { value: "" }, datasets.length ? "choose a data set" : "none uploaded yet"),
      ...datasets.map((set) => h("option", { value: set.id }, datasetLabel(set))),
    );
  };
  picker.addEventListener("change", choose);
  list();
  choose();

  const upload = uploadForm(async (dataset) => {
    datasets.unshift(dataset);
    list();
    picker.value = dataset.id;
    choose();
  });
  const form = h(
    "form",
    { class: "train-form", novalidate: true },
    h("h2", {}, "2. Data and columns"),
    field("Data set", picker),
    columns,
    h("h2", {}, "3. Windows and model"),
    h("div", { class: "grid" }, ...settingFields()),
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Start training")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    start(form, picker.value).catch(showError);
  });
  root.append(heading("Start a job"), upload, form);
}

function datasetLabel(set) {
  const names = set.summary.columns.join(", ");
  return `${set.id.slice(0, 8)}: ${set.summary.rows} rows of ${names}`;
}

function uploadForm(uploaded) {
  const file = h("input", {
    id: "csv-file",
    type: "file",
    accept: ".csv,text/csv",
    required: true,
  });
  const form = h(
    "form",
    { class: "upload-form" },
    h("h2", {}, "1. Upload a CSV time series"),
    field("CSV file (a header row, then one row per step)", file),
    h("p", {}, h("button", { type: "submit" }, "Upload")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      showError(new PageError("no_file", "choose a CSV file to upload"));
      return;
    }
    try {
      const dataset = await api("/v1/datasets", {
        method: "POST",
        body: chosen,
        contentType: "text/csv",
        management: true,
      });
      const { rows, columns } = dataset.summary;
      showInfo(`Uploaded ${chosen.name}: ${rows} rows, columns ${columns.join(", ")}.`);
      form.reset();
      await uploaded(dataset);
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

/** Checkboxes for the input and the target columns; the last column is both by default. */
function columnPickers(names) {
  const group = (legend, name) =>
    h(
      "fieldset",
      { class: "column-group" },
      h("legend", {}, legend),
      names.map((column, index) => {
        const id = `${name}-${index}`;
        const box = h("input", {
          type: "checkbox",
          id,
          name,
          value: column,
          checked: index === names.length - 1,
        });
        return h("div", { class: "check" }, box, h("label", { for: id }, column));
      }),
    );
  return [group("Input columns", "input-column"), group("Target columns", "target-column")];
}

const SETTINGS = [
  // [id, label, default, attributes]
  ["window", "Window (steps per input)", 12, { min: 1 }],
  ["horizon", "Horizon (steps ahead)", 1, { min: 1 }],
  ["hidden_size", "Hidden size", 32, { min: 1, max: 1024 }],
  ["num_layers", "Layers", 1, { min: 1, max: 8 }],
  ["epochs", "Epochs", 50, { min: 1 }],
  ["learning_rate", "Learning rate", 0.01, { min: 0, step: "any" }],
  ["batch_size", "Batch size", 32, { min: 1 }],
];

function settingFields() {
  const numbers = SETTINGS.map(([id, label, value, attributes]) =>
    field(
      label,
      h("input", {
        id,
        name: id,
        type: "number",
        inputmode: "decimal",
        value: String(value),
        step: "1",
        ...attributes,
      }),
    ),
  );
  const cell = h(
    "select",
    { id: "cell", name: "cell" },
    ["lstm", "gru", "rnn"].map((name) => h("option", { value: name }, name)),
  );
  const activate = h(
    "select",
    { id: "activate", name: "activate" },
    [
      ["never", "never"],
      ["if_better", "if better than the active version"],
      ["always", "always"],
    ].map(([value, label]) => h("option", { value }, label)),
  );
  return [...numbers, field("Cell", cell), field("Activate the new version", activate)];
}

async function start(form, datasetId) {
  if (!datasetId) throw new PageError("no_data_set", "upload or choose a data set first");
  const checked = (name) =>
    [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
  const value = (id) => Number(form.elements[id].value);
  const body = {
    data: {
      dataset_id: datasetId,
      window: value("window"),
      horizon: value("horizon"),
      columns: checked("input-column"),
      target_columns: checked("target-column"),
    },
    model: {
      hidden_size: value("hidden_size"),
      num_layers: value("num_layers"),
      cell: form.elements.cell.value,
    },
    training: {
      epochs: value("epochs"),
      learning_rate: value("learning_rate"),
      batch_size: value("batch_size"),
    },
    activate: form.elements.activate.value,
  };
  const job = await api("/v1/train", { method: "POST", json: body, management: true });
  location.hash = `#/jobs/${job.id}`;
}
