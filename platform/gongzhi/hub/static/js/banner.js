// Active critical alarms across the top of the wall: what, where, for how long, and how long is
// left before the deadline. Critical tickets are few; each gets a card big enough to read at 4 m.
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
    this.signature = "";
  }

  update(activeTickets) {
    const critical = activeTickets.filter((ticket) => ticket.severity === "critical");
    const shown = critical.slice(0, MAX_CARDS);
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
