// Building the DOM from data without ever parsing it as HTML: text goes in as text nodes and
// attribute values through setAttribute, so nothing the API answers can become markup.

/**
 * h("button", {type: "button", class: "primary", onclick: fn}, "Activate") -> <button>.
 * Props: `class`, `on<event>` handlers, `dataset` (an object), `hidden`/`checked`/`disabled`/
 * `value` as properties, anything else as an attribute. Children: nodes, strings (as text),
 * numbers, null/false (skipped) or arrays of these.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (["hidden", "checked", "disabled", "value", "selected"].includes(name)) {
      node[name] = value;
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** A page's heading, focused on arrival so that screen readers announce the new page. */
export function heading(text) {
  const node = h("h1", { tabindex: "-1", class: "page-title" }, text);
  queueMicrotask(() => node.focus({ preventScroll: true }));
  return node;
}

/** A definition list from [term, description] pairs; empty descriptions are left out. */
export function details(pairs) {
  const list = h("dl", { class: "facts" });
  for (const [term, description] of pairs) {
    if (description === null || description === undefined || description === "") continue;
    list.append(h("dt", {}, term), h("dd", {}, description));
  }
  return list;
}

/** A table whose header row is `columns` and whose rows are arrays of cells (nodes or text). */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((column) => h("th", { scope: "col" }, column)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h(
            "tr",
            {},
            cells.map((cell) => h("td", {}, cell)),
          ),
        ),
      ),
    ),
  );
}

/** A labelled form control: <div><label for=id>text</label> control [hint]</div>. */
export function field(label, control, hint) {
  const hintNode = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintNode);
}

/** A number for people: four significant digits, or a dash when there is none. */
export function number(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(4)));
}

/** An ISO time as the reader's local date and time. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
