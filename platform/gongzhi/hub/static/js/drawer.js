// The ticket drawer: what happened, where, to whom (masked per the viewer's party by the API),
// the measurements behind the alarm with the threshold, the timeline, and the actions with notes.
import { api, getTicket, postAction } from "./api.js";
import { byId, h, keepChildren } from "./dom.js";
import { lineChart } from "./chart.js";
import {
  formatLocation, formatTime, kindLabel, partyLabel, statusLabel, t,
} from "./i18n.js";
import { severityBadge } from "./icons.js";
import { slaText } from "./queue.js";
import { timelineList } from "./timeline.js";
import { isReport, loadReport, reportSection } from "./report_drawer.js";
import { isActive, mayAct, toMs } from "./store.js";

const ACTIONS = ["ack", "dispatch", "arrive", "resolve", "false_alarm", "comment"];

const METRIC_UNITS = {
  smoke_db_m: "dB/m", temp_c: "°C", battery_pct: "%", pressure_mpa: "MPa", residual_ma: "mA",
  cable_temp_c: "°C", current_a: "A", voltage_v: "V", power_w: "W",
};

/**
 * What an alarm's evidence says about its measurements: the metric, the window it covers, the
 * thresholds it crossed, and any values it carries (the gateway sends the value at detection and
 * the window; the values around it come from the telemetry store).
 */
export function evidenceSeries(evidence) {
  if (!evidence || typeof evidence !== "object" || !evidence.metric) return null;
  const window = evidence.window ?? {};
  const start = toMs(window.start_ms);
  const end = toMs(window.end_ms);
  const points = [];
  if (typeof evidence.value === "number" && end !== null) points.push([end, evidence.value]);
  const thresholds = ["threshold", "threshold_high", "limit"]
    .filter((key) => typeof evidence[key] === "number")
    .map((key) => ({ value: evidence[key] }));
  return { metric: evidence.metric, start, end, points, thresholds };
}

export class TicketDrawer {
  constructor({ onChanged, toast, now, readOnly = false, onDeclareAway = null }) {
    this.el = byId("drawer");
    this.readOnly = readOnly;
    this.onChanged = onChanged;
    this.toast = toast;
    this.now = now;
    this.ticketId = null;
    this.detail = null;
    this.device = null;
    this.trend = null;
    this.loading = 0;
    this.dueCell = null;
    // One note field for the drawer's life: a re-render on a live update keeps what is typed.
    this.note = h("textarea", { class: "note", rows: 2, maxlength: 500 });
    // The buttons too, one each for the drawer's life: a live update re-renders the drawer
    // (a storm's occurrences of the ticket shown, many a second), and a click whose press and
    // release land on two different buttons, the old and its replacement, is no click at all.
    this.closeButton = h("button", { class: "btn btn-quiet drawer-close", type: "button",
      text: "✕", onclick: () => this.close() });
    this.actionButtons = new Map();
    // A welfare check whose visit finds the person away: the committee declares the absence
    // from here (js/absences.js), and the rest of the trip raises no ticket.
    this.awayButton = onDeclareAway === null ? null : h("button", {
      class: "btn btn-action", type: "button", dataset: { action: "declare_away" },
      onclick: () => onDeclareAway({ estate_id: this.detail?.location?.estate_id,
        household: this.detail?.household ?? this.device?.household }) });
    // And what holds them: a button whose ancestor is taken out between a press and its release
    // loses the click as surely as the button itself (render keeps them all in the page).
    this.head = h("header", { class: "drawer-head" });
    this.body = h("div", { class: "drawer-body" });
    this.actionRow = h("div", { class: "action-buttons" });
    this.actions = h("section", { class: "drawer-actions" }, this.note, this.actionRow);
    // Escape closes the drawer, unless a pop-up over it takes the key (a critical pop-up
    // arriving while the operator is in the drawer: its Escape is "seen", not "close").
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.el.hidden && !document.querySelector("dialog[open]")) {
        this.close();
      }
    });
  }

  get isOpen() {
    return !this.el.hidden;
  }

  async open(ticket) {
    this.ticketId = String(ticket.id);
    this.detail = ticket;
    this.device = null;
    this.report = null;
    this.trend = null;
    this.el.hidden = false;
    this.el.dataset.ticketId = this.ticketId;
    document.body.dataset.drawer = "open"; // the banners under the top bar make way (app.css)
    this.render();
    await this.reload();
  }

  close() {
    this.el.hidden = true;
    this.ticketId = null;
    delete this.el.dataset.ticketId;
    delete document.body.dataset.drawer;
  }

  /** Fetch the timeline and the device (household info comes masked per party). */
  async reload() {
    const id = this.ticketId;
    if (id === null) return;
    const token = ++this.loading;
    try {
      const detail = await getTicket(id);
      if (token !== this.loading || this.ticketId !== id) return;
      this.detail = detail;
      this.render();
      if (isReport(detail)) {
        if (this.report === null) this.report = await loadReport(id);
      } else if (this.device === null && detail.device_id) {
        this.device = await api(`/api/devices/${encodeURIComponent(detail.device_id)}`)
          .catch(() => ({}));
      }
      if (this.trend === null) this.trend = await this.fetchTrend(detail);
      if (token === this.loading && this.ticketId === id) this.render();
    } catch (error) {
      this.toast(`${t("action.failed")}: ${error.message}`, true);
    }
  }

  // Values around the alarm from the telemetry store: ten minutes either side of its window.
  async fetchTrend(detail) {
    const evidence = evidenceSeries(detail.evidence);
    if (!evidence || !detail.device_id) return { points: [] };
    const from = evidence.start ?? toMs(detail.first_seen);
    const to = Math.max(evidence.end ?? from, toMs(detail.last_seen) ?? from);
    if (from === null) return { points: [] };
    const query = new URLSearchParams({ device_id: detail.device_id, metric: evidence.metric,
      start_ms: String(from - 10 * 60_000),
      end_ms: String(Math.min(to + 10 * 60_000, from + 23 * 3_600_000)) });
    try {
      return await api(`/api/trends/series?${query}`);
    } catch {
      return { points: [] };
    }
  }

  /** The store got a new version of the ticket shown: refresh the timeline. */
  ticketChanged(ticket) {
    if (this.ticketId !== String(ticket.id)) return;
    this.detail = { ...this.detail, ...ticket };
    this.render();
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 300);
  }

  async act(action, noteInput, button) {
    const id = this.ticketId;
    button.disabled = true;
    try {
      const updated = await postAction(id, action, noteInput.value.trim());
      noteInput.value = "";
      this.toast(`${t(`action.${action}`)} · ${t("action.done")}`);
      if (updated && updated.id !== undefined) this.onChanged(updated);
      await this.reload();
    } catch (error) {
      this.toast(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  render() {
    const ticket = this.detail;
    if (!ticket || this.el.hidden) return;
    const now = this.now();
    const sla = slaText(ticket, now);
    const note = this.note;
    note.placeholder = t("action.note");
    note.setAttribute("aria-label", t("action.note"));
    // The platform's action matrix decides (allowed_actions): no button a party may not use.
    const buttons = ACTIONS.filter((a) => !this.readOnly && mayAct(ticket, a)).map((action) => {
      let button = this.actionButtons.get(action);
      if (button === undefined) {
        button = h("button", { class: `btn btn-action${action === "ack" ? " btn-ack" : ""}`,
          type: "button", dataset: { action } });
        button.addEventListener("click", () => this.act(action, note, button));
        this.actionButtons.set(action, button);
      }
      button.textContent = t(`action.${action}`);
      return button;
    });
    this.closeButton.setAttribute("aria-label", t("drawer.close"));
    // A storm re-renders the drawer many times a second: what shows the ticket is built anew,
    // what the operator presses or types in stays in the page (keepChildren).
    keepChildren(this.el, this.head, this.body);
    keepChildren(this.head,
      severityBadge(ticket.severity, 30),
      h("h2", { class: "drawer-kind", text: kindLabel(ticket.kind) }),
      h("span", { class: "drawer-status", dataset: { status: ticket.status },
        text: statusLabel(ticket.status) }),
      this.closeButton);
    const away = this.awayButton !== null && ticket.kind === "welfare_check"
      && isActive(ticket) && (ticket.household ?? this.device?.household)
      ? this.awayButton : null;
    if (away) away.textContent = t("away.declare.from_ticket");
    if (away) buttons.push(away);
    keepChildren(this.actionRow, buttons);
    keepChildren(this.body,
      this.facts(ticket, sla),
      isReport(ticket) ? reportSection(this.report) : this.household(),
      buttons.length ? this.actions : null,
      this.evidence(ticket),
      this.timeline(ticket));
  }

  facts(ticket, sla) {
    const rows = [
      ["drawer.location", formatLocation(ticket.location)],
      ["drawer.device", ticket.device_id ?? "—"],
      ["drawer.opened", toMs(ticket.opened_at) ? formatTime(toMs(ticket.opened_at)) : "—"],
      ["drawer.due", sla.text],
      ["drawer.assignee", partyLabel(ticket.assignee)],
      ["drawer.notified", (ticket.notified ?? []).map(partyLabel).join("、") || "—"],
      ["drawer.escalation", String(ticket.escalation_level ?? 0)],
    ];
    return h("dl", { class: "facts" }, rows.map(([key, value]) => {
      const cell = h("dd", { text: value, class: key === "drawer.due" && sla.overdue
        ? "overdue" : null });
      if (key === "drawer.due") this.dueCell = cell;
      return [h("dt", { text: t(key) }), cell];
    }));
  }

  household() {
    const ticket = this.detail ?? {};
    const device = this.device ?? {};
    const household = ticket.household ?? device.household ?? null;
    const phone = ticket.phone ?? device.phone ?? null;
    const elderly = ticket.elderly_alone ?? device.elderly_alone;
    const rows = [];
    if (household) rows.push(["drawer.household.name", household]);
    if (elderly !== undefined && elderly !== null) {
      rows.push(["drawer.elderly", elderly ? t("yes") : t("no")]);
    }
    if (phone) rows.push(["drawer.phone", phone]);
    return h("section", { class: "household" },
      h("h3", { text: t("drawer.household") }),
      rows.length === 0 ? h("p", { class: "muted", text: t("drawer.household.none") })
        : h("dl", { class: "facts" }, rows.map(([key, value]) => [
          h("dt", { text: t(key) }),
          h("dd", { text: value, class: key === "drawer.elderly" && elderly ? "flag" : null })])));
  }

  evidence(ticket) {
    const evidence = evidenceSeries(ticket.evidence);
    const section = h("section", { class: "evidence" }, h("h3", { text: t("drawer.evidence") }));
    const points = [...(this.trend?.points ?? []), ...(evidence?.points ?? [])];
    const unique = [...new Map(points.map((p) => [p[0], p])).values()];
    if (!evidence || unique.length === 0) {
      section.append(h("p", { class: "muted", text: t("drawer.evidence.none") }));
    } else {
      const unit = METRIC_UNITS[evidence.metric] ?? "";
      section.append(lineChart({
        series: [{ name: evidence.metric, points: unique }],
        thresholds: evidence.thresholds.map((x) => ({ value: x.value,
          label: `${t("trends.threshold")} ${x.value} ${unit}` })),
        marker: evidence.start ?? toMs(ticket.first_seen),
        xTime: true, unit, width: 660, height: 240,
      }));
    }
    const facts = Object.entries(ticket.evidence ?? {})
      .filter(([, v]) => v === null || typeof v !== "object");
    if (facts.length) {
      section.append(h("dl", { class: "facts small" }, facts.map(([k, v]) => [
        h("dt", { text: k }), h("dd", { text: String(v) })])));
    }
    return section;
  }

  timeline(ticket) {
    return h("section", { class: "timeline" },
      h("h3", { text: t("drawer.timeline") }), timelineList(ticket.timeline ?? []));
  }

  refreshTimes() {
    if (!this.isOpen || !this.dueCell || !this.detail) return;
    const sla = slaText(this.detail, this.now());
    this.dueCell.textContent = sla.text;
    this.dueCell.classList.toggle("overdue", sla.overdue);
  }

  relabel() {
    this.render();
  }
}
