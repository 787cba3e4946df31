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

/**
 * The naive baselines a version's metrics compare it with, as [label, value] pairs: the
 * `baselines` object of the training result, or else the one-step and all-step errors of
 * its `forecast` evaluation (persistence, seasonal naive); none when the metrics have neither.
 */
export function baselines(metrics) {
  if (!metrics || typeof metrics !== "object") return [];
  if (metrics.baselines && typeof metrics.baselines === "object")
    return flatten(metrics.baselines, "");
  const evaluation = metrics.forecast;
  if (!evaluation || typeof evaluation !== "object") return [];
  const pairs = [];
  for (const [key, label] of [
    ["mse_one_step", "MSE 1 step"],
    ["mse_all_steps", "MSE all steps"],
  ]) {
    const errors = evaluation[key];
    if (!errors || typeof errors !== "object") continue;
    for (const [name, value] of Object.entries(errors)) {
      if (name !== "model") pairs.push([`${label}, ${name.replaceAll("_", " ")}`, value]);
    }
  }
  return pairs;
}

function flatten(object, prefix) {
  return Object.entries(object).flatMap(([key, value]) => {
    const label = `${prefix}${key.replaceAll("_", " ")}`;
    if (value && typeof value === "object") return flatten(value, `${label}, `);
    return [[label, value]];
  });
}

/** The baselines as one line of text ("persistence 0.04, ..."), or "—". */
export function baselineText(metrics) {
  const pairs = baselines(metrics);
  return pairs.length
    ? pairs
        .map(([label, value]) => `${label} ${typeof value === "number" ? number(value) : value}`)
        .join("; ")
    : "—";
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
