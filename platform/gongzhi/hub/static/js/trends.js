// Trends from the telemetry store: fire-riser pressures over 24 h and the highest leakage
// currents now, each against its alarm threshold.
import { api } from "./api.js";
import { barChart, lineChart } from "./chart.js";
import { h, setChildren } from "./dom.js";
import { formatPlaceShort, t } from "./i18n.js";

export class TrendsPanel {
  constructor(root) {
    this.root = root;
    this.pressure = null;
    this.leakage = null;
  }

  async refresh() {
    const [pressure, leakage] = await Promise.all([
      api("/api/trends/pressure?hours=24").catch(() => null),
      api("/api/trends/leakage?top=5").catch(() => null),
    ]);
    if (pressure) this.pressure = pressure;
    if (leakage) this.leakage = leakage;
    this.render();
  }

  render() {
    const blocks = [h("h3", { class: "sub", text: t("trends.pressure") })];
    const series = (this.pressure?.series ?? []).filter((x) => x.points.length > 0);
    if (series.length === 0) blocks.push(h("p", { class: "muted", text: t("trends.none") }));
    else {
      blocks.push(lineChart({
        series: series.map((x) => ({ name: x.label ?? x.device_id, points: x.points })),
        thresholds: this.pressure.threshold === undefined ? [] : [{
          value: this.pressure.threshold,
          label: `${t("trends.threshold")} ${this.pressure.threshold} MPa` }],
        xTime: true, unit: "", width: 420, height: 190, yMin: 0,
      }));
    }
    blocks.push(h("h3", { class: "sub", text: t("trends.leakage") }));
    const items = this.leakage?.items ?? [];
    if (items.length === 0) blocks.push(h("p", { class: "muted", text: t("trends.none") }));
    else {
      const threshold = this.leakage.threshold;
      blocks.push(barChart({
        items: items.map((x) => ({ label: formatPlaceShort(x.location) || x.device_id,
          value: x.value, alarm: threshold !== undefined && x.value >= threshold })),
        threshold: threshold === undefined ? null : { value: threshold }, unit: "mA", width: 420,
        rowHeight: 26,
      }));
    }
    setChildren(this.root, blocks);
  }
}
