// What several pages say about model versions: their provenance, their baselines, a version
// picker, and whether a version is the shipped sunspot model.
import { api } from "./api.js";
import { h, number } from "./dom.js";

/** Where a version came from, as a node: a training job links to the job's page. */
export function provenance(source) {
  if (!source || typeof source !== "object") return "—";
  if (source.kind === "training" && typeof source.job === "string") {
    const data = source.data && source.data.source ? `, ${source.data.source}` : "";
    const base = source.init_from ? `, fine-tuned from version ${source.init_from}` : "";
    return h(
      "span",
      {},
      "training job ",
      h("a", { href: `#/jobs/${source.job}` }, source.job.slice(0, 8)),
      data,
      base,
    );
  }
  const where = source.path || source.file || "";
  return `${source.kind || "unknown"}${where ? `: ${where}` : ""}`;
}

// The errors a series model's metrics record (`metrics.forecast`), and the order they are shown.
const ERRORS = [
  ["mse_one_step", "MSE, 1 step ahead"],
  ["mse_all_steps", "MSE, all steps"],
];
export const FORECASTERS = ["model", "persistence", "seasonal_naive"];

/**
 * The model's forecast errors beside the naive baselines' (persistence, seasonal naive), from
 * a series model's `metrics.forecast`: [{label, model, persistence, seasonal_naive}], empty for
 * a version without them.
 */
export function baselines(metrics) {
  const evaluation = metrics?.forecast;
  if (!evaluation || typeof evaluation !== "object") return [];
  return ERRORS.filter(([key]) => evaluation[key] && typeof evaluation[key] === "object").map(
    ([key, label]) => ({ label, ...evaluation[key] }),
  );
}

/** The baselines as one line ("MSE, 1 step ahead: model 0.01, persistence 0.04"), or "—". */
export function baselineText(metrics) {
  const rows = baselines(metrics);
  if (!rows.length) return "—";
  const describe = (row) =>
    FORECASTERS.filter((name) => typeof row[name] === "number")
      .map((name) => `${name.replace("_", " ")} ${number(row[name])}`)
      .join(", ");
  return rows.map((row) => `${row.label}: ${describe(row)}`).join("; ");
}

/** The shipped model (`lstm-serve serve` without --model): yearly sunspot numbers. */
export function isShippedSunspots(detail) {
  return detail.source?.kind === "shipped" && detail.metadata?.name === "sunspots";
}

/** A <select> of the stored versions, the active one chosen and marked; and the list. */
export async function versionSelect(id, signal) {
  const list = await api("/v1/models", { signal });
  const select = h(
    "select",
    { id },
    list.versions.map((version) =>
      h(
        "option",
        { value: version.version, selected: version.active },
        `version ${version.version}${version.active ? " (active)" : ""}`,
      ),
    ),
  );
  return { select, list };
}
