// Severity is never told by colour alone: each level has its own shape and its own word.
import { s, h } from "./dom.js";
import { severityLabel } from "./i18n.js";

const SHAPES = {
  // Octagon (a stop sign) with "!".
  critical: () => [
    s("polygon", { points: "7,1 17,1 23,7 23,17 17,23 7,23 1,17 1,7", class: "sev-fill" }),
    s("rect", { x: 10.5, y: 5, width: 3, height: 9, rx: 1, class: "sev-mark" }),
    s("circle", { cx: 12, cy: 18, r: 1.8, class: "sev-mark" }),
  ],
  // Triangle with "!".
  major: () => [
    s("polygon", { points: "12,1.5 23,22 1,22", class: "sev-fill" }),
    s("rect", { x: 10.6, y: 8, width: 2.8, height: 7.5, rx: 1, class: "sev-mark" }),
    s("circle", { cx: 12, cy: 18.6, r: 1.6, class: "sev-mark" }),
  ],
  // Circle with "i".
  minor: () => [
    s("circle", { cx: 12, cy: 12, r: 11, class: "sev-fill" }),
    s("circle", { cx: 12, cy: 6.8, r: 1.7, class: "sev-mark" }),
    s("rect", { x: 10.6, y: 10, width: 2.8, height: 8.5, rx: 1, class: "sev-mark" }),
  ],
};

export function severityIcon(severity, size = 24) {
  const shape = SHAPES[severity] ?? SHAPES.minor;
  return s("svg", {
    viewBox: "0 0 24 24", width: size, height: size, class: `sev-icon sev-${severity}`,
    "aria-hidden": "true", focusable: "false",
  }, shape());
}

/** Icon and word together, e.g. [octagon] 危急. */
export function severityBadge(severity, size = 24) {
  return h("span", { class: `sev-badge sev-${severity}`, dataset: { severity } },
    severityIcon(severity, size), h("span", { class: "sev-text", text: severityLabel(severity) }));
}

export function flameIcon(size = 24) {
  return s("svg", { viewBox: "0 0 24 24", width: size, height: size, class: "flame-icon",
    "aria-hidden": "true", focusable: "false" },
  s("path", { d: "M12 1c1 4 6 6.5 6 12.5A6 6 0 0 1 6 13.5c0-2.6 1.3-4.2 2.6-5.6.3 1.8 1 3 "
    + "2.2 3.4C10.3 8 11 4.6 12 1z", class: "sev-fill" }));
}
