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
