// Making sure a new critical alarm is noticed: a sound (after the one click browsers require
// before a page may play audio), a mute that ends by itself, and a modal pop-up.
import { byId, h, keepChildren } from "./dom.js";
import { formatDuration, formatLocation, formatTime, kindLabel, t } from "./i18n.js";
import { flameIcon, severityBadge } from "./icons.js";
import { mayAct, toMs } from "./store.js";

const MUTE_MS = 5 * 60_000;
const REPEAT_MS = 20_000;

export class SoundAlarm {
  constructor({ enableButton, muteButton, src }) {
    this.audio = new Audio(src);
    this.audio.preload = "auto";
    this.enableButton = enableButton;
    this.muteButton = muteButton;
    this.enabled = false;
    this.mutedUntil = 0;
    this.lastPlay = 0;
    this.plays = 0;
    enableButton.addEventListener("click", () => this.unlock());
    muteButton.addEventListener("click", () => {
      if (this.isMuted()) this.mutedUntil = 0;
      else this.mutedUntil = Date.now() + MUTE_MS;
      this.refresh();
    });
    this.refresh();
  }

  /** Must run inside a user gesture (a click); afterwards the page may play sound freely. */
  async unlock() {
    try {
      this.audio.muted = true;
      await this.audio.play();
      this.audio.pause();
      this.audio.currentTime = 0;
      this.audio.muted = false;
      this.enabled = true;
    } catch {
      this.enabled = false;
    }
    this.refresh();
  }

  isMuted() {
    return this.mutedUntil > Date.now();
  }

  /** Sound the alarm (counted even when it cannot be heard, so the page can say so). */
  play() {
    this.lastPlay = Date.now();
    if (!this.enabled || this.isMuted()) {
      this.enableButton.classList.add("urgent");
      return false;
    }
    this.plays += 1;
    document.body.dataset.soundPlays = String(this.plays);
    this.audio.currentTime = 0;
    this.audio.play().catch(() => {
      this.enabled = false;
      this.refresh();
    });
    return true;
  }

  /** Once a second: the mute countdown, and its end. */
  refresh() {
    this.enableButton.hidden = this.enabled;
    this.muteButton.hidden = !this.enabled;
    this.enableButton.textContent = t("sound.enable");
    const muted = this.isMuted();
    this.muteButton.classList.toggle("is-muted", muted);
    this.muteButton.textContent = muted
      ? `${t("sound.muted")} ${formatDuration(this.mutedUntil - Date.now())} · ${t("sound.unmute")}`
      : t("sound.mute");
    document.body.dataset.sound = !this.enabled ? "off" : muted ? "muted" : "on";
  }
}

/** The pop-up for new critical tickets, one at a time, with how many more are waiting. */
export class CriticalPopup {
  constructor({ onAck, onOpen, sound }) {
    this.dialog = byId("popup");
    this.onAck = onAck;
    this.onOpen = onOpen;
    this.sound = sound;
    this.waiting = []; // tickets, oldest first
    // Built once: the pop-up is rebuilt whenever another critical alarm joins the wait (a fire
    // sets off detector after detector), and a button (or an ancestor of it) taken out of the
    // page between a press and its release loses the click. A press acts on the ticket it was
    // made on: if another is shown by the release, the click does nothing.
    this.body = h("div", { class: "popup-body" });
    this.title = h("div", { class: "popup-title" });
    this.head = h("div", { class: "popup-head" }, flameIcon(64),
      h("div", {}, this.title, severityBadge("critical", 32)));
    this.actions = h("div", { class: "popup-actions" });
    this.pressed = null; // the ticket shown when a button was pressed
    const button = (attrs, act) => {
      const el = h("button", { type: "button", ...attrs });
      el.addEventListener("pointerdown", () => { this.pressed = this.current; });
      el.addEventListener("click", (event) => {
        const ticket = this.current;
        // (A click from the keyboard, detail 0, has no press: it acts on what is shown.)
        const pressed = event.detail > 0 ? this.pressed : ticket;
        if (ticket && pressed && String(pressed.id) === String(ticket.id)) act(ticket);
      });
      return el;
    };
    this.ackButton = button({ class: "btn btn-ack btn-huge", dataset: { action: "ack" } },
      (ticket) => this.onAck(ticket));
    this.noAck = h("span", { "aria-hidden": "true" });
    this.openButton = button({ class: "btn btn-huge" }, (ticket) => {
      this.dismiss();
      this.onOpen(ticket);
    });
    this.seenButton = button({ class: "btn btn-huge btn-quiet" }, () => this.dismiss());
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape is "seen", not an accidental dismissal of all.
      this.dismiss();
    });
  }

  get current() {
    return this.waiting[0] ?? null;
  }

  push(ticket) {
    if (this.waiting.some((x) => String(x.id) === String(ticket.id))) return;
    this.waiting.push(ticket);
    this.render();
  }

  /** Keep the pop-up in step with the store: acknowledged elsewhere means it needs no pop-up. */
  sync(getTicket) {
    this.waiting = this.waiting.map((x) => getTicket(x.id) ?? x)
      .filter((x) => x.status === "open");
    this.render();
  }

  dismiss() {
    this.waiting.shift();
    this.render();
  }

  render(force = false) {
    const ticket = this.current;
    if (!ticket) {
      this.shown = null;
      if (this.dialog.open) this.dialog.close();
      return;
    }
    // Called every frame by the wall: rebuild only when what it shows has changed.
    const canAck = mayAct(ticket, "ack");
    const signature = `${ticket.id}|${ticket.kind}|${this.waiting.length}|${canAck}`;
    if (!force && this.dialog.open && signature === this.shown) return;
    this.shown = signature;
    const opened = toMs(ticket.opened_at) ?? toMs(ticket.first_seen);
    const more = this.waiting.length - 1;
    this.body.className = `popup-body${ticket.kind === "fire" ? " is-fire" : ""}`;
    this.body.dataset.ticketId = String(ticket.id);
    this.title.textContent = t("popup.title");
    this.ackButton.textContent = t("action.ack");
    this.openButton.textContent = t("popup.open");
    this.seenButton.textContent = t("popup.seen");
    keepChildren(this.actions, canAck ? this.ackButton : this.noAck, this.openButton,
      this.seenButton);
    keepChildren(this.dialog, this.body);
    keepChildren(this.body, this.head,
      // Every line is there, one line high, whatever the ticket and however many wait: the
      // pop-up keeps its size, so its buttons never move under the pointer as alarms arrive.
      h("div", { class: "popup-kind", text: kindLabel(ticket.kind) }),
      h("div", { class: "popup-loc", text: formatLocation(ticket.location) }),
      h("div", { class: "popup-time", text: opened === null ? "" : formatTime(opened) }),
      h("div", { class: "popup-more", text: more > 0 ? t("popup.more", { n: more }) : "" }),
      this.actions);
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** Once a second: sound again while a critical alarm waits on screen. */
  tick() {
    if (this.current && Date.now() - this.sound.lastPlay >= REPEAT_MS) this.sound.play();
  }

  relabel() {
    this.render(true);
  }
}

