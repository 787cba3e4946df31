// The one live region (#messages): errors from the API and confirmations, announced by screen
// readers as they appear. Text only: messages come from the server.
import { h } from "./dom.js";

/** A mistake in what the reader typed, found before anything is sent. */
export class PageError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "PageError";
    this.code = code;
  }
}

function region() {
  return document.getElementById("messages");
}

function show(kind, text) {
  const close = h(
    "button",
    { type: "button", class: "dismiss", onclick: clearMessages },
    "Dismiss",
  );
  const notice = h("div", { class: `notice ${kind}`, dataset: { kind } }, h("p", {}, text), close);
  region().replaceChildren(notice);
}

/** An ApiError (or any error) as "Error 422 invalid_input: message (at data.window)". */
export function showError(error) {
  if (error && error.name === "AbortError") return; // a page left before its answer came
  const where = error.location && error.location.length ? ` (at ${error.location.join(".")})` : "";
  const status = error.status ? `${error.status} ${error.code}` : error.code || "error";
  show("error", `Error ${status}: ${error.message}${where}`);
}

export function showInfo(text) {
  show("info", text);
}

export function clearMessages() {
  region().replaceChildren();
}
