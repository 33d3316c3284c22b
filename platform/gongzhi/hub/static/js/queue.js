// The ticket queue, virtualised: only the rows in view (plus a few) exist in the DOM, so 1,000
// open tickets cost the same as 20. Rows are a fixed height and are reused as the list scrolls.
//
// Nothing moves under the operator's pointer. Once the pointer moves onto the queue's rows, and
// while it stays over the queue, its order is held: rows keep their places (a row's ticket still
// shows its news: status, occurrences), the tickets that arrive wait behind a "N new · show"
// button in the panel's head, and they take their places when the pointer leaves the queue or
// the button is pressed. A pointer left still for HOLD_IDLE_MS lets go (an unattended wall shows
// its alarms; the next move holds again). Scrolled down, the queue keeps the rows in view where
// they were as tickets come in above them (the button counts those new above and brings the
// operator to the top).
import { h, setText } from "./dom.js";
import { formatDuration, formatLocation, kindLabel, statusLabel, t } from "./i18n.js";
import { severityBadge } from "./icons.js";
import { mayAct, toMs } from "./store.js";

const OVERSCAN = 4;
const HOLD_IDLE_MS = 20_000;

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
  constructor(root, { rowHeight = 64, onPick, onAck, now, lookup = () => undefined }) {
    this.root = root;
    this.rowHeight = rowHeight;
    this.onPick = onPick;
    this.onAck = onAck;
    this.now = now;
    this.lookup = lookup; // a ticket by id, also one no longer active (for a held row)
    this.items = []; // the order shown
    this.latest = []; // the order of the tickets now
    this.latestIds = new Set();
    this.seen = new Set(); // the tickets in the list when it was last shown from its top
    this.seenOf = null;
    this.holding = false;
    this.movedAt = 0;
    this.rows = [];
    this.pending = new Set(); // ticket ids with an action in flight
    this.spacer = h("div", { class: "queue-spacer" });
    this.empty = h("p", { class: "empty queue-empty", text: t("queue.empty") });
    root.replaceChildren(this.spacer, this.empty);
    root.addEventListener("scroll", () => this.requestRender(), { passive: true });
    new ResizeObserver(() => this.requestRender()).observe(root);
    this.framePending = false;
    // The hold covers the whole panel, so the pointer on its way to the button keeps it.
    const zone = root.closest(".queue-panel") ?? root;
    this.newButton = h("button", { class: "btn btn-attn queue-new", type: "button",
      hidden: true, dataset: { count: "0" } });
    this.newButton.addEventListener("click", () => this.showNew());
    zone.append(this.newButton);
    // The operator aims at a row by moving the pointer onto it (a row coming under a pointer
    // left still, as tickets arrive under it, is not aimed at); leaving the panel lets go.
    const aimed = (event) => {
      if (this.holding || event.target.closest?.(".q-row")) this.pointer(true);
    };
    for (const name of ["pointermove", "pointerdown", "wheel"]) {
      zone.addEventListener(name, aimed, { passive: true });
    }
    // A critical pop-up coming over a pointer left still is no leaving (the browser says the
    // pointer left): the row stays aimed at until the pointer moves elsewhere than the pop-up.
    zone.addEventListener("pointerleave", () => {
      if (!document.querySelector("dialog:modal")) this.pointer(false);
    });
    document.addEventListener("pointermove", (event) => {
      if (!this.holding || zone.contains(event.target)) return;
      if (event.target.closest?.("dialog:modal")) this.movedAt = performance.now();
      else this.pointer(false);
    }, { passive: true });
  }

  /** The pointer moved over the queue (aiming at its rows) or left it. */
  pointer(over) {
    this.movedAt = performance.now();
    if (over !== this.holding) this.hold(over);
  }

  hold(on) {
    this.holding = on;
    this.root.dataset.held = on ? "1" : "0";
    if (!on) this.setItems(this.latest);
  }

  /** The button: the tickets now, in their order, from the top. */
  showNew() {
    this.items = this.latest;
    this.root.scrollTop = 0;
    this.render();
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
    if (items !== this.latest) {
      this.latest = items;
      this.latestIds = new Set(items.map((ticket) => String(ticket.id)));
    }
    if (this.holding) {
      // The order held; each row's ticket as it is now.
      const byId = new Map(items.map((ticket) => [String(ticket.id), ticket]));
      this.items = this.items.map((ticket) => byId.get(String(ticket.id))
        ?? this.lookup(ticket.id) ?? ticket);
      this.render();
      return;
    }
    const top = this.anchoredTop(items);
    this.items = items;
    this.spacer.style.height = `${items.length * this.rowHeight}px`;
    if (top !== this.root.scrollTop) this.root.scrollTop = top;
    this.render();
  }

  /** Where to scroll for ``next`` so that the rows in view stay where they are: the first row in
   * view that moved with its neighbour below (not re-sorted on its own) keeps its place. */
  anchoredTop(next) {
    const top = this.root.scrollTop;
    const shown = this.items;
    if (top <= 0 || shown === next || shown.length === 0) return top;
    const at = new Map(next.map((ticket, index) => [String(ticket.id), index]));
    const from = Math.floor(top / this.rowHeight);
    const to = Math.min(shown.length,
      from + Math.ceil((this.root.clientHeight || 800) / this.rowHeight) + 1);
    let anchor = null;
    for (let index = from; index < to; index += 1) {
      const there = at.get(String(shown[index].id));
      if (there === undefined) continue;
      anchor ??= [index, there];
      const below = shown[index + 1] ? at.get(String(shown[index + 1].id)) : undefined;
      if (below === there + 1 || index + 1 === shown.length) {
        anchor = [index, there];
        break;
      }
    }
    return anchor === null ? top : top + (anchor[1] - anchor[0]) * this.rowHeight;
  }

  /** The button: held, the tickets not in the list shown (and whether its order is still the
   * tickets' order now); scrolled down, the tickets above the rows in view that came since the
   * list was last seen from its top. */
  renderNew() {
    let count = 0;
    let changed = false;
    const ids = (tickets) => tickets.map((ticket) => String(ticket.id));
    if (this.holding) {
      const shownIds = new Set(ids(this.items));
      for (const id of this.latestIds) if (!shownIds.has(id)) count += 1;
      changed = count > 0 || this.items.length !== this.latest.length
        || this.items.some((ticket, index) => String(ticket.id) !== String(this.latest[index].id));
    }
    if (this.root.scrollTop > 0) {
      const above = Math.min(Math.floor(this.root.scrollTop / this.rowHeight), this.items.length);
      let unseen = 0;
      for (let index = 0; index < above; index += 1) {
        if (!this.seen.has(String(this.items[index].id))) unseen += 1;
      }
      count += unseen;
      changed ||= unseen > 0;
    } else if (this.seenOf !== this.items) {
      // At the top: the list shown has been seen from its top.
      this.seenOf = this.items;
      this.seen = this.holding ? new Set([...this.seen, ...ids(this.items)]) : this.latestIds;
    }
    if (this.newButton.hidden !== !changed) this.newButton.hidden = !changed;
    if (this.newButton.dataset.count !== String(count)) this.newButton.dataset.count = String(count);
    setText(this.newButton, !changed ? "" : count > 0 ? t("queue.new", { n: count })
      : t("queue.changed"));
  }

  render() {
    this.renderNew();
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
    const gone = !this.latestIds.has(String(ticket.id)); // closed while held
    const signature = [ticket.id, ticket.severity, ticket.kind, ticket.status, ticket.occurrences,
      busy, canAck, gone].join("|");
    row.ticket = ticket;
    if (row.signature !== signature) {
      row.signature = signature;
      row.el.dataset.ticketId = ticket.id;
      row.el.classList.toggle("q-gone", gone);
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

  /** Once a second: move the clocks of the rows in view; a pointer still too long lets go. */
  refreshTimes() {
    if (this.holding && performance.now() - this.movedAt > HOLD_IDLE_MS) this.hold(false);
    const now = this.now();
    for (const row of this.rows) if (!row.el.hidden) this.tick(row, now);
  }

  relabel() {
    this.empty.textContent = t("queue.empty");
    for (const row of this.rows) row.signature = null;
    this.render();
  }
}
