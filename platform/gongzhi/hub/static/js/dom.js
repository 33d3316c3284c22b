// Small DOM helpers: elements are built node by node (never from HTML strings), so ticket text
// can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** h("div", {class: "x", dataset: {id: 1}, onclick: fn}, child, "text") */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Make ``children`` (nulls skipped) the children of ``el``, in order, without taking out a node
 * that is already there: the others are removed first, then the new ones put in around those
 * kept. A page re-rendered while someone uses it needs this for what they touch: a button (or
 * an ancestor of it) taken out between a press and its release turns the click into one on what
 * stayed in the page, and a text field taken out loses the focus and what is being typed.
 */
export function keepChildren(el, ...children) {
  const wanted = children.flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false);
  const kept = new Set(wanted);
  for (const node of [...el.childNodes]) {
    if (!kept.has(node)) node.remove();
  }
  wanted.forEach((child, i) => {
    const here = el.childNodes[i] ?? null;
    if (here !== child) el.insertBefore(child, here);
  });
}

/**
 * A form of labelled controls (each with its id) in a two-column grid and its submit button:
 * {form, labels} with a label per control's id, to be worded by the caller (and again on a
 * language change). ``onSubmit`` is called without the page reloading.
 */
export function labelledForm(className, controls, submit, onSubmit) {
  const labels = Object.fromEntries(controls.map((c) => [c.id, h("label", { for: c.id })]));
  const form = h("form", { class: className, autocomplete: "off",
    onsubmit: (event) => { event.preventDefault(); onSubmit(); } },
  controls.map((c) => [labels[c.id], c]), h("div", { class: "away-form-actions" }, submit));
  return { form, labels };
}

/** Replace all children of ``el``. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el;
}

/** Set text only when it changed: a live wall rewrites the same values many times a second. */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}
