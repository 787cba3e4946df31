// The single-page app: hash routes (#/models, #/jobs/<id>, ...) to page modules, and the token
// form. Each page renders into a fresh element and gets an AbortSignal that fires when the
// reader leaves it: its requests stop and its event streams close.
import { token } from "./api.js";
import { PageError, clearMessages, showError, showInfo } from "./notices.js";
import { forecastPage } from "./pages/forecast.js";
import { jobPage } from "./pages/job.js";
import { jobsPage } from "./pages/jobs.js";
import { modelPage, modelsPage } from "./pages/models.js";
import { predictPage } from "./pages/predict.js";
import { trainPage } from "./pages/train.js";

const ROUTES = [
  [/^#\/models$/, "models", modelsPage],
  [/^#\/models\/([^/]+)$/, "models", modelPage],
  [/^#\/jobs$/, "jobs", jobsPage],
  [/^#\/jobs\/([0-9a-f]{32})$/, "jobs", jobPage],
  [/^#\/train$/, "train", trainPage],
  [/^#\/forecast$/, "forecast", forecastPage],
  [/^#\/predict$/, "predict", predictPage],
];
let leave = null;

async function route() {
  if (!location.hash.startsWith("#/")) {
    location.replace("#/models");
    return;
  }
  leave?.abort();
  leave = new AbortController();
  clearMessages();
  const root = document.createElement("div");
  document.getElementById("page").replaceChildren(root);
  const found = ROUTES.find(([pattern]) => pattern.test(location.hash));
  markCurrent(found ? found[1] : null);
  if (!found) {
    showError(new PageError("not_found", `no page ${location.hash}`));
    return;
  }
  const [pattern, name, render] = found;
  const params = location.hash.match(pattern).slice(1).map(decodeURIComponent);
  document.body.dataset.page = name;
  try {
    await render(root, { signal: leave.signal }, ...params);
  } catch (error) {
    showError(error);
  }
}

function markCurrent(name) {
  for (const link of document.querySelectorAll(".site-header nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function setUpToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const status = document.getElementById("token-status");
  const describe = () => {
    status.textContent = token.get() ? "A token is set for this tab." : "No token set.";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      showError(new PageError("no_token", "enter the management token first"));
      return;
    }
    token.set(value);
    input.value = "";
    describe();
    showInfo("The management token is kept for this tab only (sessionStorage).");
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    token.clear();
    describe();
    showInfo("The management token is forgotten.");
  });
  describe();
}

setUpToken();
window.addEventListener("hashchange", route);
route();
