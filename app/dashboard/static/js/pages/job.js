// One job: its state and progress, cancel and resume, and its loss curves, live over the
// job's server-sent events (`event: progress` per change, `event: done` with the history).
import { api } from "../api.js";
import { lossChart } from "../charts.js";
import { details, h, heading, number, when } from "../dom.js";
import { PageError, showError, showInfo } from "../notices.js";

/** Nothing will change any more (app/training/views.py `settled`). */
function settled(job) {
  if (job.state === "queued" || job.state === "running") return false;
  return job.state !== "succeeded" || job.activation?.state !== "pending";
}

export async function jobPage(root, { signal }, id) {
  const summary = h("div", { class: "job-summary" });
  const actions = h("p", { class: "actions" });
  const figure = h("figure", { class: "chart" });
  const plotArea = h("div", { class: "plot", id: "loss-chart" });
  figure.append(
    h("figcaption", {}, "Loss per epoch: train (solid) and validation (dashed), log scale"),
    plotArea,
  );
  root.append(heading(`Job ${id.slice(0, 8)}`), summary, actions, figure);
  const chart = lossChart(plotArea);
  let stream = null;
  signal.addEventListener("abort", () => {
    stream?.close();
    chart.destroy();
  });

  const show = (job) => {
    root.dataset.state = job.state;
    summary.replaceChildren(jobFacts(job));
    actions.replaceChildren(...jobActions(job, act));
  };
  const reload = async () => {
    const job = await api(`/v1/train/${id}`, { signal });
    chart.set(job.history);
    show(job);
    return job;
  };
  const follow = () => {
    stream?.close();
    stream = new EventSource(`/v1/train/${id}/events`);
    stream.addEventListener("progress", (event) => {
      const job = JSON.parse(event.data);
      show(job);
      grow(job).catch(showError);
    });
    stream.addEventListener("done", (event) => {
      stream.close();
      const job = JSON.parse(event.data);
      chart.set(job.history);
      show(job);
    });
    stream.addEventListener("error", () => {
      // EventSource reconnects by itself; closed means the server refused the stream.
      if (stream.readyState === EventSource.CLOSED) {
        showError(new PageError("stream_closed", "live updates stopped; reload the page"));
      }
    });
  };
  // Events coalesce the changes of one poll interval: one new epoch is drawn from the
  // event, a jump of several is read back from the job's history.
  const grow = async (job) => {
    const progress = job.progress;
    if (!progress || progress.epoch <= chart.points) return;
    if (progress.epoch === chart.points + 1) chart.append(progress);
    else await reload();
  };
  const act = async (verb) => {
    try {
      const job = await api(`/v1/train/${id}/${verb}`, { method: "POST", management: true });
      showInfo(
        verb === "cancel"
          ? `Job ${job.state === "cancelled" ? "cancelled" : "stopping"}.`
          : "Job queued again.",
      );
      show(job);
      if (!settled(job)) follow();
    } catch (error) {
      showError(error);
    }
  };

  const job = await reload();
  if (!settled(job)) follow();
}

function jobFacts(job) {
  const progress = job.progress;
  return details([
    ["Job id", h("code", {}, job.id)],
    ["State", h("span", { class: `state state-${job.state}` }, job.state)],
    ["Created", when(job.created_at)],
    ["Started", job.started_at ? when(job.started_at) : null],
    ["Finished", job.finished_at ? when(job.finished_at) : null],
    ["Epoch", progress ? `${progress.epoch} of ${progress.epochs}` : null],
    ["Train loss", progress ? number(progress.train_loss) : null],
    ["Validation loss", progress ? number(progress.val_loss) : null],
    ["Best epoch", progress?.best_epoch ?? null],
    ["Time left", progress?.eta_s != null ? `about ${Math.round(progress.eta_s)} s` : null],
    [
      "Model version",
      job.model_version
        ? h("a", { href: `#/models/${job.model_version}` }, `version ${job.model_version}`)
        : null,
    ],
    ["Activation", job.activation ? activationText(job.activation) : null],
    ["Cancel requested", job.cancel_requested && !job.finished_at ? "yes" : null],
    ["Error", job.error ? `${job.error.code}: ${job.error.message}` : null],
  ]);
}

function activationText(activation) {
  const reason = activation.reason ? ` (${activation.reason})` : "";
  return `${activation.state.replaceAll("_", " ")}, policy ${activation.policy}${reason}`;
}

function jobActions(job, act) {
  const buttons = [];
  if ((job.state === "queued" || job.state === "running") && !job.cancel_requested) {
    buttons.push(h("button", { type: "button", onclick: () => act("cancel") }, "Cancel job"));
  }
  if (job.state === "interrupted") {
    buttons.push(h("button", { type: "button", onclick: () => act("resume") }, "Resume job"));
  }
  return buttons;
}
