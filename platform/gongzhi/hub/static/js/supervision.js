// The supervision view (NPC liaison station, party committee): overdue and escalated tickets,
// live, and the SLA figures per day, per party and per kind. Locations stop at the unit: this
// page shows no personal data.
import { api, onUnauthorized, serverNow } from "./api.js";
import { columnChart, lineChart } from "./chart.js";
import { TopBar } from "./chrome.js";
import { byId, h, setChildren } from "./dom.js";
import { FrameScheduler } from "./frame.js";
import {
  applyStatic, formatDuration, formatLocation, formatTime, kindLabel, onLangChange, partyLabel,
  statusLabel, t,
} from "./i18n.js";
import { severityBadge } from "./icons.js";
import { LiveTickets } from "./live.js";
import { partyOf, signIn } from "./signin.js";
import { toMs } from "./store.js";

const SUMMARY_REFRESH_MS = 60_000;
const SUMMARY_DEBOUNCE_MS = 3_000;
const MAX_ROWS = 200;
const DAY_MS = 86_400_000;

const minutes = (ms) => (ms === null || ms === undefined ? null : ms / 60_000);
const percent = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
const minutesText = (ms) => (ms === null || ms === undefined ? "—"
  : `${(ms / 60_000).toFixed(1)} ${t("unit.min")}`);
/** The median of a duration figure ({median_s, p90_s}), in milliseconds; null for none. */
const medianMs = (durations) => (durations.median_s === null ? null : durations.median_s * 1000);

/** Tickets the supervisors watch: still active and past a deadline or escalated. */
export const needsAttention = (ticket) => ticket.overdue || ticket.escalation_level > 0;

class Supervision {
  constructor(me) {
    this.party = partyOf(me);
    this.days = 14;
    this.groupBy = "party";
    this.summary = null;
    this.scheduler = new FrameScheduler(() => this.renderList());
    this.live = new LiveTickets({
      onChange: () => {
        this.scheduler.request();
        this.refreshSoon();
      },
      onLoaded: () => {
        document.body.dataset.loaded = "1";
        this.scheduler.request();
      },
      onState: (state) => this.topBar.connection(state),
    });
  }

  start() {
    this.topBar = new TopBar(this.party);
    for (const button of document.querySelectorAll("#days [data-days]")) {
      button.addEventListener("click", () => {
        this.days = Number(button.dataset.days);
        this.loadSummary();
      });
    }
    for (const button of document.querySelectorAll("#group-by [data-group]")) {
      button.addEventListener("click", () => {
        this.groupBy = button.dataset.group;
        this.renderSummary();
      });
    }
    onLangChange(() => {
      this.topBar.relabel();
      this.renderSummary();
      this.renderList();
    });
    this.live.start();
    this.loadSummary();
    setInterval(() => this.loadSummary(), SUMMARY_REFRESH_MS);
    setInterval(() => {
      this.topBar.tick();
      this.renderList();
    }, 1000);
  }

  // Ticket changes move the figures too, but a burst of them should cost one request.
  refreshSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.loadSummary(), SUMMARY_DEBOUNCE_MS);
  }

  async loadSummary() {
    const offset = -new Date().getTimezoneOffset();
    try {
      this.summary = await api(`/api/supervision?days=${this.days}&tz_offset_min=${offset}`);
      this.renderSummary();
    } catch {
      // Kept until the next refresh; the connection indicator tells when the platform is away.
    }
  }

  renderList() {
    const now = serverNow();
    const tickets = this.live.store.active().filter(needsAttention);
    byId("sup-count").textContent = String(tickets.length);
    byId("sup-count").dataset.count = String(tickets.length);
    const rows = tickets.slice(0, MAX_ROWS).map((ticket) => h("div", {
      class: "sup-row", dataset: { ticketId: ticket.id, severity: ticket.severity } },
    severityBadge(ticket.severity, 24),
    h("span", { class: "sup-kind", text: kindLabel(ticket.kind) }),
    h("span", { class: "sup-where" },
      h("span", { class: "sup-loc", text: formatLocation(ticket.location, 2) }),
      h("span", { class: "sup-party", text: partyLabel(ticket.assignee) }),
      h("span", { class: "sup-status", text: statusLabel(ticket.status) })),
    h("span", { class: "sup-flags" },
      (ticket.breaches ?? []).map((stage) => h("span", { class: "flag flag-overdue",
        text: `${t("sla.over")}·${t(`stage.${stage}`)}` })),
      ticket.escalation_level > 0 ? h("span", { class: "flag flag-escalated",
        text: `${t("sup.escalated")} ${ticket.escalation_level}` }) : null),
    h("span", { class: "sup-time", text: `${formatTime(toMs(ticket.opened_at))} · `
      + `${formatDuration(now - toMs(ticket.opened_at))}` })));
    setChildren(byId("sup-list"), rows.length ? rows
      : h("p", { class: "empty", text: t("sup.none") }),
    tickets.length > MAX_ROWS ? h("p", { class: "muted", text: `+${tickets.length - MAX_ROWS}` })
      : null);
  }

  renderSummary() {
    for (const button of document.querySelectorAll("#days [data-days]")) {
      button.textContent = t("sup.days", { n: button.dataset.days });
      button.classList.toggle("is-on", Number(button.dataset.days) === this.days);
    }
    for (const button of document.querySelectorAll("#group-by [data-group]")) {
      button.classList.toggle("is-on", button.dataset.group === this.groupBy);
    }
    const sum = this.summary;
    if (!sum) return;
    const total = sum.total;
    const kpi = (key, value, label, warn = false) => h("div", {
      class: `kpi${warn ? " kpi-warn" : ""}`, dataset: { kpi: key } },
    h("span", { class: "kpi-value", text: value }), h("span", { class: "kpi-label", text: label }));
    setChildren(byId("kpis"),
      kpi("overdue", String(sum.open_overdue), t("sup.overdue"), sum.open_overdue > 0),
      kpi("escalated", String(sum.open_escalated), t("sup.escalated"), sum.open_escalated > 0),
      kpi("compliance", percent(total.sla_compliance),
        `${t("sup.compliance")} · ${t("sup.days", { n: sum.days })}`,
        total.sla_compliance !== null && total.sla_compliance < 0.9),
      kpi("ack", minutesText(medianMs(total.time_to_ack)), t("sup.median_ack")),
      kpi("resolve", minutesText(medianMs(total.time_to_resolve)),
        t("sup.median_resolve")),
      kpi("opened", String(total.opened), `${t("sup.opened")} · ${t("sup.days", { n: sum.days })}`));
    const groups = this.groupBy === "party" ? sum.by_party : sum.by_kind;
    const label = this.groupBy === "party" ? partyLabel : kindLabel;
    setChildren(byId("chart-ack"), this.chart(groups, label, "time_to_ack", sum));
    setChildren(byId("chart-resolve"), this.chart(groups, label, "time_to_resolve", sum));
    setChildren(byId("sup-table"), this.table(groups, label));
    setChildren(byId("chart-compliance"), columnChart({
      items: sum.by_day.map((d) => ({ label: d.day.slice(5), value: d.sla_compliance === null
        ? null : 100 * d.sla_compliance })),
      unit: "%", max: 100, width: 1100, height: 190 }));
  }

  chart(groups, label, field, sum) {
    const series = groups.map((group) => ({
      name: label(group.key),
      points: group.days.filter((d) => d[field].median_s !== null)
        .map((d) => [d.start_ms + DAY_MS / 2, minutes(medianMs(d[field]))]),
    })).filter((x) => x.points.length > 0);
    if (series.length === 0) return h("p", { class: "muted", text: t("trends.none") });
    const step = sum.days > 14 ? 7 : sum.days > 7 ? 2 : 1;
    const xTicks = sum.by_day.filter((_, i) => i % step === 0).map((d) => d.start_ms + DAY_MS / 2);
    return lineChart({ series, xTicks, xFormat: (x) => new Date(x).toISOString().slice(5, 10),
      width: 560, height: 230, unit: "min", yMin: 0, legend: true });
  }

  table(groups, label) {
    const head = ["sup.group", "sup.opened", "sup.acked", "sup.resolved", "sup.breached",
      "sup.compliance", "sup.median_ack", "sup.median_resolve"];
    return h("table", {},
      h("thead", {}, h("tr", {}, head.map((key) => h("th", { text: t(key) })))),
      h("tbody", {}, groups.map((g) => h("tr", { dataset: { key: g.key } },
        h("td", { text: label(g.key) }), h("td", { text: String(g.opened) }),
        h("td", { text: String(g.acknowledged) }), h("td", { text: String(g.resolved) }),
        h("td", { text: String(g.breached), class: g.breached ? "warn" : null }),
        h("td", { text: percent(g.sla_compliance) }),
        h("td", { text: minutesText(medianMs(g.time_to_ack)) }),
        h("td", { text: minutesText(medianMs(g.time_to_resolve)) })))));
  }
}

async function main() {
  applyStatic(document);
  document.title = `${t("app.name")} · ${t("view.supervision")}`;
  onUnauthorized(() => window.location.reload());
  const me = await signIn();
  new Supervision(me).start();
}

main();
