// Making sure a new critical alarm is noticed: a sound (after the one click browsers require
// before a page may play audio), a mute that ends by itself, and a modal pop-up.
import { byId, h, setChildren } from "./dom.js";
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
    setChildren(this.dialog, h("div", {
      class: `popup-body${ticket.kind === "fire" ? " is-fire" : ""}`,
      dataset: { ticketId: ticket.id },
    },
    h("div", { class: "popup-head" }, flameIcon(64),
      h("div", {}, h("div", { class: "popup-title", text: t("popup.title") }),
        severityBadge("critical", 32))),
    // Every line is there, one line high, whatever the ticket and however many wait: the
    // pop-up keeps its size, so its buttons never move under the pointer as alarms arrive.
    h("div", { class: "popup-kind", text: kindLabel(ticket.kind) }),
    h("div", { class: "popup-loc", text: formatLocation(ticket.location) }),
    h("div", { class: "popup-time", text: opened === null ? "" : formatTime(opened) }),
    h("div", { class: "popup-more", text: more > 0 ? t("popup.more", { n: more }) : "" }),
    h("div", { class: "popup-actions" },
      canAck ? h("button", { class: "btn btn-ack btn-huge", type: "button",
        dataset: { action: "ack" }, text: t("action.ack"), onclick: () => this.onAck(ticket) })
        : h("span", { "aria-hidden": "true" }),
      h("button", { class: "btn btn-huge", type: "button", text: t("popup.open"),
        onclick: () => {
          this.dismiss();
          this.onOpen(ticket);
        } }),
      h("button", { class: "btn btn-huge btn-quiet", type: "button", text: t("popup.seen"),
        onclick: () => this.dismiss() }))));
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

