// Jobs: the training jobs, newest first, a page at a time (the list's `next` link).
import { api, samePath } from "../api.js";
import { h, heading, table, when } from "../dom.js";
import { showError } from "../notices.js";

const PAGE_SIZE = 20;

export async function jobsPage(root, { signal }) {
  root.append(
    heading("Jobs"),
    h("p", {}, h("a", { href: "#/train", class: "button-link" }, "Start a job")),
  );
  const rows = h("div");
  const more = h("p");
  root.append(rows, more);
  const load = async (path) => {
    const page = await api(path, { signal });
    rows.append(jobsTable(page.jobs));
    more.replaceChildren();
    if (page.next) {
      const button = h("button", { type: "button" }, "Older jobs");
      button.addEventListener("click", () => load(samePath(page.next)).catch(showError));
      more.append(button);
    }
  };
  await load(`/v1/train?limit=${PAGE_SIZE}`);
}

function jobsTable(jobs) {
  if (!jobs.length) return h("p", {}, "No jobs yet.");
  return table(
    "Training jobs, newest first",
    ["Job", "State", "Created", "Epoch", "Model version"],
    jobs.map((job) => [
      h(
        "a",
        { href: `#/jobs/${job.id}`, "aria-label": `job ${job.id}` },
        h("code", {}, job.id.slice(0, 8)),
      ),
      h("span", { class: `state state-${job.state}` }, job.state),
      when(job.created_at),
      job.progress ? `${job.progress.epoch} of ${job.progress.epochs}` : "—",
      job.model_version
        ? h("a", { href: `#/models/${job.model_version}` }, `version ${job.model_version}`)
        : "—",
    ]),
  );
}
