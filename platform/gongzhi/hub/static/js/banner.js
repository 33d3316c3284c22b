// Active critical alarms across the top of the wall: what, where, for how long, and how long is
// left before the deadline. Critical tickets are few; each gets a card big enough to read at 4 m.
// The strip has a fixed height and a fixed number of places, and a card keeps its place while
// its ticket is critical and active: a new alarm takes a free place or counts in "+N", so it
// never moves a card (or its button) from under the operator's pointer. A place left by a
// ticket goes to the most urgent one not shown.
import { h, setChildren, setText } from "./dom.js";
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
    this.cards = new Map(); // ticket id -> {el, parts}
    this.places = []; // the ticket ids shown, in the order of their places
    this.signature = "";
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
    if (critical.length === 0) {
      this.cards.clear();
      setChildren(this.root, h("div", { class: "critical-none" },
        h("span", { class: "ok-mark", "aria-hidden": "true", text: "✓" }),
        h("span", { text: t("panel.critical.none") })));
      return;
    }
    const now = this.now();
    this.cards.clear();
    const cards = shown.map((ticket) => this.card(ticket, now));
    const more = critical.length - shown.length;
    setChildren(this.root,
      h("h2", { class: "critical-title" }, flameIcon(34),
        h("span", { text: `${t("panel.critical")} ${critical.length}` })),
      h("div", { class: "critical-cards" }, cards,
        more > 0 ? h("div", { class: "critical-more", text: `+${more}` }) : null));
  }

  card(ticket, now) {
    const elapsed = h("span", { class: "c-elapsed" });
    const sla = h("span", { class: "c-sla" });
    const ack = mayAct(ticket, "ack")
      ? h("button", { class: "btn btn-ack btn-big", type: "button", dataset: { action: "ack" },
        text: t("action.ack"),
        onclick: (event) => {
          event.stopPropagation();
          this.onAck(ticket);
        } })
      : null;
    const el = h("article", {
      class: `critical-card${ticket.kind === "fire" ? " is-fire" : ""}`,
      dataset: { ticketId: ticket.id, status: ticket.status, kind: ticket.kind },
      tabindex: 0, onclick: () => this.onPick(ticket),
    },
    h("div", { class: "c-head" }, severityBadge("critical", 30),
      h("span", { class: "c-kind", text: kindLabel(ticket.kind) }),
      ticket.occurrences > 1 ? h("span", { class: "c-count", text: `×${ticket.occurrences}` })
        : null),
    h("div", { class: "c-loc", text: formatLocation(ticket.location) }),
    h("div", { class: "c-foot" },
      h("span", { class: "c-status", dataset: { status: ticket.status },
        text: statusLabel(ticket.status) }),
      h("span", { class: "c-times" }, h("span", { class: "c-label", text: t("elapsed") }), elapsed),
      sla, ack));
    this.cards.set(String(ticket.id), { ticket, elapsed, sla });
    this.tickCard(this.cards.get(String(ticket.id)), now);
    return el;
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
