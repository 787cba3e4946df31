// Predict: a playground for POST /v1/predict. Each answer is one round; a round's returned
// state can start the next request ("Continue from this state"), which is how a stream is
// predicted in chunks: the two rounds together equal one request over both chunks.
import { api } from "../api.js";
import { field, h, heading } from "../dom.js";
import { PageError, showError } from "../notices.js";
import { versionSelect } from "../versions.js";

export async function predictPage(root, { signal }) {
  const { select, list } = await versionSelect("predict-version", signal);
  const active = list.versions.find((version) => version.active) ?? list.versions[0];
  const inputSize = active
    ? (await api(`/v1/models/${encodeURIComponent(active.version)}`, { signal })).config.input_size
    : 1;
  const inputs = h("textarea", { id: "inputs", rows: "6", spellcheck: "false" });
  inputs.value = JSON.stringify([[0.1, 0.2, 0.3].map((value) => Array(inputSize).fill(value))]);
  const state = h("textarea", {
    id: "state",
    rows: "4",
    spellcheck: "false",
    placeholder: "none: zeros",
  });
  const returnState = h("input", { id: "return-state", type: "checkbox", checked: true });
  const rounds = h("ol", { class: "rounds", id: "rounds" });

  const send = async (fromRound) => {
    const body = {
      inputs: parseJson(inputs.value, "inputs"),
      return_state: returnState.checked,
      model_version: select.value,
    };
    if (state.value.trim()) body.state = parseJson(state.value, "state");
    const answer = await api("/v1/predict", { method: "POST", json: body, signal });
    rounds.append(round(rounds.children.length + 1, body, answer, fromRound, continueFrom));
  };
  const continueFrom = (number, answer) => {
    state.value = JSON.stringify(answer.state);
    send(number).catch(showError);
  };
  const form = h(
    "form",
    { class: "predict-form", novalidate: true },
    field("Model version", select),
    field("Inputs: a batch of sequences, [B][T][input_size] as JSON", inputs),
    field(
      'Initial state (optional): {"h": ..., "c": ...} as JSON',
      state,
      "Empty: every sequence starts from zeros.",
    ),
    h(
      "div",
      { class: "check" },
      returnState,
      h("label", { for: "return-state" }, "Return the final state"),
    ),
    h(
      "p",
      {},
      h("button", { type: "submit", class: "primary" }, "Predict"),
      " ",
      h("button", { type: "button", onclick: () => (state.value = "") }, "Clear the state"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(null).catch(showError);
  });
  root.append(heading("Predict"), form, h("h2", {}, "Answers"), rounds);
}

function parseJson(text, name) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PageError("invalid_json", `${name} is not valid JSON: ${error.message}`);
  }
}

/** One request and its answer; with a state, the button that sends the next from it. */
function round(number, body, answer, fromRound, continueFrom) {
  const origin = fromRound
    ? `initial state: the state returned by answer ${fromRound}`
    : body.state
      ? "initial state: as typed"
      : "initial state: zeros";
  const parts = [
    h("h3", {}, `Answer ${number} (version ${answer.model.version}; ${origin})`),
    h("p", {}, "Inputs: ", h("code", {}, JSON.stringify(body.inputs))),
    h(
      "p",
      {},
      "Predictions: ",
      h("code", { class: "predictions" }, JSON.stringify(answer.predictions)),
    ),
  ];
  if (answer.state) {
    parts.push(
      h(
        "details",
        {},
        h("summary", {}, "Returned state"),
        h("pre", { class: "state" }, JSON.stringify(answer.state, null, 1)),
      ),
      h(
        "p",
        {},
        h(
          "button",
          { type: "button", class: "continue", onclick: () => continueFrom(number, answer) },
          `Continue from the state of answer ${number}`,
        ),
        " sends the inputs above again, starting from this state.",
      ),
    );
  }
  return h(
    "li",
    {
      class: "round",
      dataset: { round: String(number), from: fromRound ? String(fromRound) : "" },
    },
    ...parts,
  );
}
