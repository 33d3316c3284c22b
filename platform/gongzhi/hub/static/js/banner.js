// Active critical alarms across the top of the wall: what, where, for how long, and how long is
// left before the deadline. Critical tickets are few; each gets a card big enough to read at 4 m.
// The strip has a fixed height and a fixed number of places, and a card keeps its place while
// its ticket is critical and active: a new alarm takes a free place or counts in "+N", so it
// never moves a card (or its button) from under the operator's pointer. A place left by a
// ticket goes to the most urgent one not shown.
import { h, keepChildren, setText } from "./dom.js";
import { formatLocation, kindLabel, statusLabel, t } from "./i18n.js";
import { flameIcon, severityBadge } from "./icons.js";
import { elapsedText, slaText } from "./queue.js";
import { mayAct } from "./store.js";

const MAX_CARDS = 5;

export class CriticalBanner {
  constructor(root, { onPick, onAck, now }) {
    this.root = root;
    this.onPick = onPick;
    this.onAck = onAck;
    this.now = now;
    this.cards = new Map(); // ticket id -> its card (built once, updated in place)
    this.places = []; // the ticket ids shown, in the order of their places
    this.signature = "";
    // Built once and updated in place: a fire sets off detector after detector, each a change
    // of the strip, and a card or button (or an ancestor of it) taken out of the page between
    // a press and its release loses the click (keepChildren).
    this.titleText = h("span");
    this.title = h("h2", { class: "critical-title" }, flameIcon(34), this.titleText);
    this.strip = h("div", { class: "critical-cards" });
    this.more = h("div", { class: "critical-more" });
    this.noneText = h("span");
    this.none = h("div", { class: "critical-none" },
      h("span", { class: "ok-mark", "aria-hidden": "true", text: "✓" }), this.noneText);
  }

  /** The tickets to show, place by place: those shown keep their places. */
  placed(critical) {
    const byId = new Map(critical.map((ticket) => [String(ticket.id), ticket]));
    const kept = new Set(this.places.filter((id) => byId.has(id)));
    const waiting = critical.filter((ticket) => !kept.has(String(ticket.id)));
    const places = this.places.map((id) => (kept.has(id) ? id : waiting.shift()?.id))
      .filter((id) => id !== undefined).map(String);
    while (places.length < MAX_CARDS && waiting.length) places.push(String(waiting.shift().id));
    this.places = places;
    return places.map((id) => byId.get(id));
  }

  update(activeTickets) {
    const critical = activeTickets.filter((ticket) => ticket.severity === "critical");
    const shown = this.placed(critical);
    const signature = shown
      .map((x) => `${x.id}|${x.kind}|${x.status}|${x.occurrences}|${x.due_at}`)
      .join(",") + `#${critical.length}`;
    this.root.dataset.count = String(critical.length);
    if (signature === this.signature) return;
    this.signature = signature;
    const ids = new Set(shown.map((ticket) => String(ticket.id)));
    for (const id of [...this.cards.keys()]) if (!ids.has(id)) this.cards.delete(id);
    if (critical.length === 0) {
      setText(this.noneText, t("panel.critical.none"));
      keepChildren(this.root, this.none);
      return;
    }
    const now = this.now();
    const cards = shown.map((ticket) => this.card(ticket, now));
    const more = critical.length - shown.length;
    setText(this.titleText, `${t("panel.critical")} ${critical.length}`);
    setText(this.more, `+${more}`);
    keepChildren(this.strip, cards, more > 0 ? this.more : null);
    keepChildren(this.root, this.title, this.strip);
  }

  /** The ticket's card, built the first time it is shown, brought up to date after. */
  card(ticket, now) {
    const id = String(ticket.id);
    let card = this.cards.get(id);
    if (card === undefined) card = this.build(id);
    card.ticket = ticket;
    const { el, parts } = card;
    el.className = `critical-card${ticket.kind === "fire" ? " is-fire" : ""}`;
    Object.assign(el.dataset, { ticketId: id, status: ticket.status, kind: ticket.kind });
    setText(parts.kind, kindLabel(ticket.kind));
    setText(parts.count, `×${ticket.occurrences}`);
    keepChildren(parts.head, parts.badge, parts.kind, ticket.occurrences > 1 ? parts.count : null);
    setText(parts.loc, formatLocation(ticket.location));
    parts.status.dataset.status = ticket.status;
    setText(parts.status, statusLabel(ticket.status));
    setText(parts.elapsedLabel, t("elapsed"));
    setText(parts.ack, t("action.ack"));
    keepChildren(parts.foot, parts.status, parts.times, card.sla,
      mayAct(ticket, "ack") ? parts.ack : null);
    this.tickCard(card, now);
    return el;
  }

  build(id) {
    const card = { ticket: null, elapsed: h("span", { class: "c-elapsed" }),
      sla: h("span", { class: "c-sla" }) };
    const parts = {
      badge: severityBadge("critical", 30),
      kind: h("span", { class: "c-kind" }),
      count: h("span", { class: "c-count" }),
      loc: h("div", { class: "c-loc" }),
      status: h("span", { class: "c-status" }),
      elapsedLabel: h("span", { class: "c-label" }),
      ack: h("button", { class: "btn btn-ack btn-big", type: "button", dataset: { action: "ack" },
        onclick: (event) => {
          event.stopPropagation();
          this.onAck(card.ticket);
        } }),
    };
    parts.head = h("div", { class: "c-head" });
    parts.times = h("span", { class: "c-times" }, parts.elapsedLabel, card.elapsed);
    parts.foot = h("div", { class: "c-foot" });
    card.parts = parts;
    card.el = h("article", { tabindex: 0, onclick: () => this.onPick(card.ticket) },
      parts.head, parts.loc, parts.foot);
    this.cards.set(id, card);
    return card;
  }

  tickCard(card, now) {
    setText(card.elapsed, elapsedText(card.ticket, now));
    const sla = slaText(card.ticket, now);
    setText(card.sla, sla.text);
    card.sla.classList.toggle("overdue", sla.overdue);
  }

  refreshTimes() {
    const now = this.now();
    for (const card of this.cards.values()) this.tickCard(card, now);
  }

  relabel() {
    this.signature = "";
  }
}
