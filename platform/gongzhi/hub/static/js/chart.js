// Small SVG charts with no library: lines over time (with a threshold and a marker) and
// horizontal bars. Series differ by dash pattern as well as colour.
import { h, s } from "./dom.js";

const DASHES = ["", "6 4", "2 4", "10 4 2 4", "1 3", "8 3 3 3"];
const SERIES_CLASSES = 6;

function niceBounds(lo, hi) {
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((x) => x >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

const MINUTE = 60_000;
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((m) => m * MINUTE);

/** Ticks on round local times (every 10 min, 3 h, ...), at most ``count`` of them. */
export function timeTicks(lo, hi, count) {
  const step = TIME_STEPS.find((s) => (hi - lo) / s <= count) ?? TIME_STEPS.at(-1);
  const offset = new Date(lo).getTimezoneOffset() * MINUTE;
  const out = [];
  for (let v = Math.ceil((lo - offset) / step) * step + offset; v <= hi; v += step) out.push(v);
  return out;
}

const clock = (ms) => new Date(ms).toTimeString().slice(0, 5);

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1)
  : v.toFixed(2));

/**
 * series: [{name, points: [[x, y], ...]}]; thresholds: [{value, label}]; marker: x of the alarm.
 * xFormat(x) labels the x axis. Returns an <svg> sized by its viewBox (CSS sets the width).
 */
export function lineChart({ series, thresholds = [], marker = null, width = 640, height = 260,
  xFormat = (x) => String(x), xTime = false, xTicks = null, unit = "", legend = true,
  yMin = null }) {
  const pad = { l: 64, r: 16, t: 12, b: 34 };
  const xs = series.flatMap((x) => x.points.map((p) => p[0]));
  const ys = [...series.flatMap((x) => x.points.map((p) => p[1])),
    ...thresholds.map((x) => x.value)];
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  if (xs.length === 0) return svg;
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (marker !== null) [x0, x1] = [Math.min(x0, marker), Math.max(x1, marker)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  let [y0, y1] = niceBounds(Math.min(...ys), Math.max(...ys));
  if (yMin !== null) y0 = Math.min(yMin, y0);
  const px = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const py = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  for (const v of ticks(y0, y1, 4)) {
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: py(v), y2: py(v), class: "grid" }),
      s("text", { x: pad.l - 8, y: py(v) + 5, class: "axis-label", "text-anchor": "end" },
        `${fmt(v)}${unit ? ` ${unit}` : ""}`));
  }
  if (xTicks) [x0, x1] = [Math.min(x0, ...xTicks), Math.max(x1, ...xTicks)];
  for (const v of xTicks ?? (xTime ? timeTicks(x0, x1, 5) : ticks(x0, x1, 4))) {
    svg.append(s("text", { x: px(v), y: height - 10, class: "axis-label",
      "text-anchor": "middle" }, xTime ? clock(v) : xFormat(v)));
  }
  for (const threshold of thresholds) {
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: py(threshold.value),
      y2: py(threshold.value), class: "threshold" }),
    s("text", { x: width - pad.r - 4, y: py(threshold.value) - 6, class: "threshold-label",
      "text-anchor": "end" }, threshold.label ?? fmt(threshold.value)));
  }
  if (marker !== null) {
    svg.append(s("line", { x1: px(marker), x2: px(marker), y1: pad.t, y2: height - pad.b,
      class: "marker" }));
  }
  series.forEach((one, index) => {
    const points = [...one.points].sort((a, b) => a[0] - b[0]);
    const d = points.map((p, i) => `${i ? "L" : "M"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`)
      .join("");
    svg.append(s("path", { d, class: `series series-${index % SERIES_CLASSES}`,
      "stroke-dasharray": DASHES[index % DASHES.length] || null }));
    if (points.length <= 40) {
      for (const p of points) {
        svg.append(s("circle", { cx: px(p[0]), cy: py(p[1]), r: 3,
          class: `dot series-${index % SERIES_CLASSES}` }));
      }
    }
  });
  if (!legend || series.length < 2) return svg;
  return h("figure", { class: "chart-figure" }, svg, legendFor(series.map((x) => x.name)));
}

export function legendFor(names) {
  return h("figcaption", { class: "legend" }, names.map((name, index) => h("span", {
    class: "legend-item" },
  s("svg", { viewBox: "0 0 28 8", width: 28, height: 8, "aria-hidden": "true" },
    s("line", { x1: 0, x2: 28, y1: 4, y2: 4, class: `series series-${index % SERIES_CLASSES}`,
      "stroke-dasharray": DASHES[index % DASHES.length] || null })),
  h("span", { text: name }))));
}

/** items: [{label, value, alarm}] drawn as horizontal bars against an optional threshold. */
export function barChart({ items, threshold = null, unit = "", width = 400, rowHeight = 30 }) {
  const labelWidth = 150;
  const valueWidth = 80;
  const height = items.length * rowHeight + 8;
  const max = Math.max(...items.map((x) => x.value), threshold?.value ?? 0) * 1.05 || 1;
  const scale = (v) => (v / max) * (width - labelWidth - valueWidth);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart bars", role: "img" });
  items.forEach((item, index) => {
    const y = index * rowHeight + 4;
    svg.append(
      s("text", { x: labelWidth - 8, y: y + rowHeight / 2 + 5, class: "axis-label",
        "text-anchor": "end" }, item.label),
      s("rect", { x: labelWidth, y: y + 4, width: Math.max(2, scale(item.value)),
        height: rowHeight - 10, class: item.alarm ? "bar bar-alarm" : "bar" }),
      s("text", { x: labelWidth + scale(item.value) + 6, y: y + rowHeight / 2 + 5,
        class: "bar-value" }, `${fmt(item.value)} ${unit}${item.alarm ? " ▲" : ""}`));
  });
  if (threshold) {
    const x = labelWidth + scale(threshold.value);
    svg.append(s("line", { x1: x, x2: x, y1: 0, y2: height, class: "threshold" }));
  }
  return svg;
}

/** items: [{label, value|null}] as vertical columns from 0 to ``max``; below ``low`` stands out. */
export function columnChart({ items, max, unit = "", low = 90, width = 800, height = 200 }) {
  const pad = { l: 8, r: 8, t: 22, b: 26 };
  const slot = (width - pad.l - pad.r) / Math.max(1, items.length);
  const py = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart columns", role: "img" });
  svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: py(0), y2: py(0), class: "grid" }));
  items.forEach((item, index) => {
    const x = pad.l + index * slot + slot * 0.18;
    const w = slot * 0.64;
    svg.append(s("text", { x: x + w / 2, y: height - 8, class: "axis-label",
      "text-anchor": "middle" }, item.label));
    if (item.value === null || item.value === undefined) return;
    svg.append(
      s("rect", { x, y: py(item.value), width: w, height: Math.max(1, py(0) - py(item.value)),
        class: item.value < low ? "column column-low" : "column" }),
      s("text", { x: x + w / 2, y: py(item.value) - 6, class: "column-value",
        "text-anchor": "middle" }, `${fmt(item.value)}${unit}`));
  });
  return svg;
}
