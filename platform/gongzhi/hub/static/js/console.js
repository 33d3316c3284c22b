// The alarm wall ("/", property office) and the police-room console ("/police"): the same live
// screen; what each party sees is decided by the platform from its token.
import { api, listTickets, onUnauthorized, postAction, serverNow, clearToken } from "./api.js";
import { CriticalBanner } from "./banner.js";
import { byId, h, setChildren, setText } from "./dom.js";
import { TicketDrawer } from "./drawer.js";
import { FrameScheduler } from "./frame.js";
import { HealthPanel } from "./health.js";
import {
  applyStatic, currentLang, formatDuration, onLangChange, partyLabel, setLang, t,
} from "./i18n.js";
import { severityBadge } from "./icons.js";
import { EstateMap } from "./map.js";
import { VirtualQueue } from "./queue.js";
import { CriticalPopup, SoundAlarm } from "./alerting.js";
import { partyOf, signIn } from "./signin.js";
import { EventStream } from "./sse.js";
import { ACTIVE_STATUSES, SEVERITIES, TicketStore } from "./store.js";
import { TrendsPanel } from "./trends.js";

const VIEW = window.location.pathname.startsWith("/police") ? "police" : "wall";
const ACTIVE_LIST = [...ACTIVE_STATUSES].join(",");
const LAYOUT_REFRESH_MS = 10 * 60_000;
const HEALTH_REFRESH_MS = 30_000;
const TRENDS_REFRESH_MS = 60_000;

class Console {
  constructor(me) {
    this.party = partyOf(me);
    this.readOnly = Boolean(me.read_only);
    this.store = new TicketStore();
    this.scheduler = new FrameScheduler(() => this.render());
    this.toastTimer = null;
    this.highlights = [];
    this.snapshotting = false;
    this.buffered = [];
    this.disconnectedAt = null;
    const now = serverNow;
    const onPick = (ticket) => this.drawer.open(ticket);
    const onAck = (ticket) => this.ack(ticket);
    this.sound = new SoundAlarm({ enableButton: byId("sound-enable"),
      muteButton: byId("sound-mute"), src: "/static/audio/alarm.wav" });
    this.map = new EstateMap(byId("map"), { onPick });
    this.queue = new VirtualQueue(byId("queue"), { onPick, onAck, now });
    this.banner = new CriticalBanner(byId("critical"), { onPick, onAck, now });
    this.drawer = new TicketDrawer({ now, readOnly: Boolean(me.read_only),
      onChanged: (ticket) => this.apply(ticket, false), toast: (m, bad) => this.toast(m, bad) });
    this.popup = new CriticalPopup({ onAck, onOpen: onPick, sound: this.sound });
    // Measurements only for the parties whose duty needs them (the API says which views).
    const views = new Set(me.views ?? []);
    const measures = views.has("devices");
    this.health = measures ? new HealthPanel(byId("health"), {
      onOffline: (places) => this.map.setOffline(places) }) : null;
    this.trends = measures && VIEW === "wall" ? new TrendsPanel(byId("trends")) : null;
    this.stream = new EventStream("/api/stream", {
      onEvent: (event) => this.onEvent(event),
      onState: (state) => this.onConnection(state),
      onOpen: ({ resumed }) => {
        if (!resumed) this.snapshot();
      },
    });
  }

  start() {
    document.body.dataset.party = this.party ?? "";
    document.body.dataset.readonly = this.readOnly ? "1" : "0";
    setText(byId("party"), partyLabel(this.party));
    byId("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
    byId("signout").addEventListener("click", () => {
      clearToken();
      window.location.reload();
    });
    onLangChange(() => this.relabel());
    if (!this.trends) byId("trends-panel").hidden = true;
    if (!this.health) document.body.dataset.side = "none";
    this.stream.start();
    this.loadLayout();
    this.health?.refresh();
    this.trends?.refresh();
    setInterval(() => this.loadLayout(), LAYOUT_REFRESH_MS);
    if (this.health) setInterval(() => this.health.refresh(), HEALTH_REFRESH_MS);
    if (this.trends) setInterval(() => this.trends.refresh(), TRENDS_REFRESH_MS);
    setInterval(() => this.everySecond(), 1000);
    this.everySecond();
  }

  async loadLayout() {
    try {
      this.map.setLayout(await api("/api/layout"));
    } catch {
      // Retried on the next refresh; tickets still show in the queue.
    }
  }

  /** The full list, on first connection (and when the platform asks for a resync). */
  async snapshot() {
    this.snapshotting = true;
    this.buffered = [];
    try {
      const answer = await listTickets({ status: ACTIVE_LIST, limit: 5000 });
      const tickets = Array.isArray(answer) ? answer : answer.tickets ?? answer.items ?? [];
      this.store.replaceAll(tickets);
      // Events that arrived while the list was on its way are newer: apply them again, in order.
      for (const ticket of this.buffered) this.store.upsert(ticket);
      for (const ticket of this.store.active()) {
        if (ticket.severity === "critical" && ticket.status === "open") this.popup.push(ticket);
      }
      document.body.dataset.loaded = "1";
    } catch (error) {
      this.toast(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      this.snapshotting = false;
      this.buffered = [];
      this.scheduler.request();
    }
  }

  onEvent(event) {
    if (event.type === "resync") {
      this.snapshot();
      return;
    }
    if (event.type !== "ticket") return;
    let ticket;
    try {
      ticket = JSON.parse(event.data);
    } catch {
      return;
    }
    if (this.snapshotting) this.buffered.push(ticket);
    this.apply(ticket, true);
  }

  /** One ticket into the store; a new critical one sounds, pops up and lights its place. */
  apply(ticket, live) {
    const change = this.store.upsert(ticket);
    if (!change) return;
    const { previous } = change;
    const becameCritical = ticket.severity === "critical"
      && (!previous || previous.severity !== "critical" || previous.kind !== ticket.kind);
    if (live && becameCritical && ticket.status === "open") {
      this.sound.play();
      this.popup.push(ticket);
      this.highlights.push(ticket.location);
    } else if (live && !previous) {
      this.highlights.push(ticket.location);
    }
    this.drawer.ticketChanged(ticket);
    this.scheduler.request();
  }

  async ack(ticket) {
    const id = String(ticket.id);
    this.queue.pending.add(id);
    this.scheduler.request();
    try {
      const updated = await postAction(id, "ack");
      if (updated && updated.id !== undefined) this.apply(updated, false);
      this.toast(`${t("action.ack")} · ${t("action.done")}`);
    } catch (error) {
      this.toast(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      this.queue.pending.delete(id);
      this.scheduler.request();
    }
  }

  render() {
    const active = this.store.active();
    this.queue.setItems(active);
    this.map.update(active);
    this.banner.update(active);
    this.popup.sync((id) => this.store.get(id));
    this.renderCounts(active);
    for (const location of this.highlights.splice(0)) this.map.highlight(location);
  }

  renderCounts(active) {
    const counts = Object.fromEntries(SEVERITIES.map((x) => [x, 0]));
    for (const ticket of active) counts[ticket.severity] = (counts[ticket.severity] ?? 0) + 1;
    const signature = `${currentLang()}|${SEVERITIES.map((x) => counts[x]).join(",")}`;
    const el = byId("queue-counts");
    if (el.dataset.signature === signature) return;
    el.dataset.signature = signature;
    el.dataset.total = String(active.length);
    setChildren(el, SEVERITIES.map((severity) => h("span", {
      class: "count", dataset: { severity } },
    severityBadge(severity, 22), h("strong", { text: String(counts[severity]) }))));
  }

  onConnection(state) {
    document.body.dataset.conn = state;
    const indicator = byId("conn");
    indicator.dataset.state = state;
    setText(byId("conn-text"), t(`conn.${state}`));
    if (state === "disconnected") this.disconnectedAt ??= Date.now();
    if (state === "live") this.disconnectedAt = null;
    byId("disconnected").hidden = state !== "disconnected";
    this.everySecond();
  }

  everySecond() {
    const now = serverNow();
    setText(byId("clock"), new Date(now).toLocaleTimeString(
      currentLang() === "zh" ? "zh-CN" : "en-GB", { hour12: false }));
    this.queue.refreshTimes();
    this.banner.refreshTimes();
    this.drawer.refreshTimes();
    this.sound.refresh();
    this.popup.tick();
    if (this.disconnectedAt !== null) {
      setText(byId("disconnected-for"),
        `${t("conn.since")} ${formatDuration(Date.now() - this.disconnectedAt)}`);
    }
  }

  toast(message, bad = false) {
    const el = byId("toast");
    el.textContent = message;
    el.classList.toggle("bad", bad);
    el.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      el.hidden = true;
    }, 4000);
  }

  relabel() {
    document.title = `${t("app.name")} · ${t(`view.${VIEW}`)}`;
    setText(byId("party"), partyLabel(this.party));
    this.onConnection(this.stream.state);
    this.queue.relabel();
    this.banner.relabel();
    this.map.relabel();
    this.drawer.relabel();
    this.popup.relabel();
    this.health?.render();
    this.trends?.render();
    this.scheduler.request();
  }
}

async function main() {
  document.body.dataset.view = VIEW;
  byId("view-title").dataset.i18n = `view.${VIEW}`;
  applyStatic(document);
  document.title = `${t("app.name")} · ${t(`view.${VIEW}`)}`;
  onUnauthorized(() => window.location.reload());
  byId("signin-lang").addEventListener("click",
    () => setLang(currentLang() === "zh" ? "en" : "zh"));
  const me = await signIn();
  new Console(me).start();
}

main();
