// Device health from /api/devices: the online share, low batteries and offline devices per
// building. Polled (devices change slowly); tickets are what arrive by push.
import { api } from "./api.js";
import { h, setChildren } from "./dom.js";
import { formatLocation, t } from "./i18n.js";
import { placeKey } from "./store.js";

const LOW_BATTERY_PCT = 20; // GB 20517-2025 §5.11

export function summarise(devices) {
  let online = 0;
  let unknown = 0;
  let lowBattery = 0;
  const offlineByBuilding = new Map();
  const offlinePlaces = new Set();
  for (const device of devices) {
    const values = device.values ?? {};
    const battery = values.battery_pct;
    if (typeof battery === "number" && battery <= LOW_BATTERY_PCT) lowBattery += 1;
    if (device.online === false) {
      const location = device.location ?? {};
      offlinePlaces.add(placeKey(location));
      const key = location.building ?? "";
      offlineByBuilding.set(key, (offlineByBuilding.get(key) ?? 0) + 1);
    } else if (device.online) {
      online += 1;
    } else {
      unknown += 1; // not reported by the gateway yet
    }
  }
  const offline = [...offlineByBuilding.entries()].sort((a, b) => b[1] - a[1]);
  return { total: devices.length, online, unknown, lowBattery, offline, offlinePlaces };
}

export class HealthPanel {
  constructor(root, { onOffline = () => {} } = {}) {
    this.root = root;
    this.onOffline = onOffline;
    this.summary = null;
  }

  async refresh() {
    try {
      const answer = await api("/api/devices");
      const devices = Array.isArray(answer) ? answer : answer.devices ?? answer.items ?? [];
      this.summary = summarise(devices);
      this.onOffline(this.summary.offlinePlaces);
      this.render();
    } catch {
      // Keep the last figures; the connection banner tells when the platform is away.
    }
  }

  render() {
    const sum = this.summary;
    if (!sum) return;
    const known = sum.total - sum.unknown;
    const share = known ? Math.round((sum.online / known) * 1000) / 10 : null;
    const detail = `${t("health.online")} · ${sum.online}/${known}`
      + (sum.unknown ? ` · ${t("health.unknown")} ${sum.unknown}` : "");
    const maxOffline = Math.max(1, ...sum.offline.map(([, n]) => n));
    setChildren(this.root,
      h("div", { class: "kpis" },
        h("div", { class: `kpi${share !== null && share < 95 ? " kpi-warn" : ""}`,
          dataset: { kpi: "online" } },
        h("span", { class: "kpi-value", text: share === null ? "—" : `${share}%` }),
        h("span", { class: "kpi-label", text: detail })),
        h("div", { class: `kpi${sum.lowBattery ? " kpi-warn" : ""}`,
          dataset: { kpi: "low-battery" } },
        h("span", { class: "kpi-value", text: String(sum.lowBattery) }),
        h("span", { class: "kpi-label", text: t("health.lowbattery") }))),
      h("h3", { class: "sub", text: t("health.offline") }),
      sum.offline.length === 0 ? h("p", { class: "muted", text: t("health.none_offline") })
        : h("ul", { class: "offline-list" }, sum.offline.slice(0, 8).map(([building, n]) => {
          const bar = h("span", { class: "offline-bar" });
          bar.style.width = `${(n / maxOffline) * 100}%`;
          return h("li", {}, h("span", { class: "offline-name",
            text: formatLocation({ building }, 1) || "—" }),
            h("span", { class: "offline-track" }, bar), h("span", { class: "offline-n",
              text: String(n) }));
        })));
  }
}
