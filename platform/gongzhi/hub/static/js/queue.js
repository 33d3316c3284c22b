// The ticket queue, virtualised: only the rows in view (plus a few) exist in the DOM, so 1,000
// open tickets cost the same as 20. Rows are a fixed height and are reused as the list scrolls.
import { h, setText } from "./dom.js";
import { formatDuration, formatLocation, kindLabel, statusLabel, t } from "./i18n.js";
import { severityBadge } from "./icons.js";
import { mayAct, toMs } from "./store.js";

const OVERSCAN = 4;

export function slaText(ticket, now) {
  const due = toMs(ticket.due_at);
  if (due === null) return { text: "—", overdue: false };
  const left = due - now;
  return left >= 0
    ? { text: `${t("sla.left")} ${formatDuration(left)}`, overdue: false }
    : { text: `${t("sla.over")} ${formatDuration(-left)}`, overdue: true };
}

export function elapsedText(ticket, now) {
  const opened = toMs(ticket.opened_at) ?? toMs(ticket.first_seen);
  return opened === null ? "—" : formatDuration(now - opened);
}

export class VirtualQueue {
  constructor(root, { rowHeight = 64, onPick, onAck, now }) {
    this.root = root;
    this.rowHeight = rowHeight;
    this.onPick = onPick;
    this.onAck = onAck;
    this.now = now;
    this.items = [];
    this.rows = [];
    this.pending = new Set(); // ticket ids with an action in flight
    this.spacer = h("div", { class: "queue-spacer" });
    this.empty = h("p", { class: "empty queue-empty", text: t("queue.empty") });
    root.replaceChildren(this.spacer, this.empty);
    root.addEventListener("scroll", () => this.requestRender(), { passive: true });
    new ResizeObserver(() => this.requestRender()).observe(root);
    this.framePending = false;
  }

  requestRender() {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.render();
    });
  }

  setItems(items) {
    this.items = items;
    this.render();
  }

  render() {
    const count = this.items.length;
    this.spacer.style.height = `${count * this.rowHeight}px`;
    this.empty.hidden = count > 0;
    const viewport = this.root.clientHeight || 800;
    const first = Math.max(0, Math.floor(this.root.scrollTop / this.rowHeight) - OVERSCAN);
    const last = Math.min(count, Math.ceil((this.root.scrollTop + viewport) / this.rowHeight)
      + OVERSCAN);
    const needed = last - first;
    while (this.rows.length < needed) this.rows.push(this.makeRow());
    const now = this.now();
    for (let slot = 0; slot < this.rows.length; slot += 1) {
      const row = this.rows[slot];
      const index = first + slot;
      if (index >= last) {
        row.el.hidden = true;
        row.ticket = null;
        continue;
      }
      row.el.hidden = false;
      row.el.style.transform = `translateY(${index * this.rowHeight}px)`;
      this.fill(row, this.items[index], now);
    }
  }

  makeRow() {
    const row = {};
    row.badge = h("span", { class: "q-sev" });
    row.kind = h("span", { class: "q-kind" });
    row.count = h("span", { class: "q-count" });
    row.location = h("span", { class: "q-loc" });
    row.status = h("span", { class: "q-status" });
    row.elapsed = h("span", { class: "q-elapsed" });
    row.sla = h("span", { class: "q-sla" });
    row.ack = h("button", { class: "btn btn-ack", type: "button", dataset: { action: "ack" } });
    row.ack.addEventListener("click", (event) => {
      event.stopPropagation();
      if (row.ticket) this.onAck(row.ticket);
    });
    row.el = h("div", { class: "q-row", role: "row", tabindex: 0 },
      row.badge, h("span", { class: "q-what" }, row.kind, row.count), row.status, row.location,
      h("span", { class: "q-times" }, row.elapsed, row.sla), h("span", { class: "q-act" }, row.ack));
    row.el.style.height = `${this.rowHeight}px`;
    row.el.addEventListener("click", () => row.ticket && this.onPick(row.ticket));
    row.el.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && row.ticket) this.onPick(row.ticket);
    });
    this.spacer.append(row.el);
    return row;
  }

  fill(row, ticket, now) {
    const busy = this.pending.has(String(ticket.id));
    const canAck = mayAct(ticket, "ack");
    const signature = [ticket.id, ticket.severity, ticket.kind, ticket.status, ticket.occurrences,
      busy, canAck].join("|");
    row.ticket = ticket;
    if (row.signature !== signature) {
      row.signature = signature;
      row.el.dataset.ticketId = ticket.id;
      row.el.dataset.severity = ticket.severity;
      row.el.dataset.status = ticket.status;
      row.badge.replaceChildren(severityBadge(ticket.severity, 26));
      setText(row.kind, kindLabel(ticket.kind));
      setText(row.count, ticket.occurrences > 1 ? `×${ticket.occurrences}` : "");
      setText(row.location, formatLocation(ticket.location));
      setText(row.status, statusLabel(ticket.status));
      row.ack.hidden = !canAck;
      row.ack.disabled = busy;
      setText(row.ack, busy ? "…" : t("action.ack_short"));
    }
    this.tick(row, now);
  }

  tick(row, now) {
    if (!row.ticket) return;
    setText(row.elapsed, elapsedText(row.ticket, now));
    const sla = slaText(row.ticket, now);
    setText(row.sla, sla.text);
    row.sla.classList.toggle("overdue", sla.overdue);
  }

  /** Once a second: move the clocks of the rows in view. */
  refreshTimes() {
    const now = this.now();
    for (const row of this.rows) if (!row.el.hidden) this.tick(row, now);
  }

  relabel() {
    this.empty.textContent = t("queue.empty");
    for (const row of this.rows) row.signature = null;
    this.render();
  }
}
