// The alarm wall ("/", property office) and the police-room console ("/police"): the same live
// screen; what each party sees is decided by the platform from its token.
import { ABSENCE_READERS, AbsencesDialog } from "./absences.js";
import { api, onUnauthorized, postAction, serverNow } from "./api.js";
import { CriticalBanner } from "./banner.js";
import { TopBar } from "./chrome.js";
import { byId, h, setChildren } from "./dom.js";
import { TicketDrawer } from "./drawer.js";
import { FrameScheduler } from "./frame.js";
import { HealthPanel } from "./health.js";
import { applyStatic, currentLang, onLangChange, t } from "./i18n.js";
import { severityBadge } from "./icons.js";
import { EstateMap } from "./map.js";
import { OperationsBanner } from "./operations.js";
import { VirtualQueue } from "./queue.js";
import { CriticalPopup, SoundAlarm } from "./alerting.js";
import { partyOf, signIn } from "./signin.js";
import { LiveTickets } from "./live.js";
import { SEVERITIES } from "./store.js";
import { TrendsPanel } from "./trends.js";

const VIEW = window.location.pathname.startsWith("/police") ? "police" : "wall";
const LAYOUT_REFRESH_MS = 10 * 60_000;
const HEALTH_REFRESH_MS = 30_000;
const TRENDS_REFRESH_MS = 60_000;
const MAX_HIGHLIGHTS = 3; // the map keeps at most three places flashing anyway
// The parties that print the residents' QR sheet (/reports/qr; the API refuses the others).
const QR_PRINTERS = new Set(["property_office", "residents_committee"]);

class Console {
  constructor(me) {
    this.party = partyOf(me);
    this.readOnly = Boolean(me.read_only);
    this.scheduler = new FrameScheduler(() => this.render());
    this.toastTimer = null;
    this.highlights = [];
    const now = serverNow;
    const onPick = (ticket) => this.drawer.open(ticket);
    const onAck = (ticket) => this.ack(ticket);
    this.sound = new SoundAlarm({ enableButton: byId("sound-enable"),
      muteButton: byId("sound-mute"), src: "/static/audio/alarm.wav" });
    this.map = new EstateMap(byId("map"), { onPick });
    this.queue = new VirtualQueue(byId("queue"), { onPick, onAck, now,
      lookup: (id) => this.store.get(id) });
    this.banner = new CriticalBanner(byId("critical"), { onPick, onAck, now });
    this.absences = ABSENCE_READERS.has(this.party)
      ? new AbsencesDialog({ party: this.party, now }) : null;
    const declares = this.absences?.declares && !this.readOnly;
    this.drawer = new TicketDrawer({ now, readOnly: Boolean(me.read_only),
      onDeclareAway: declares ? (prefill) => this.absences.open(prefill) : null,
      onChanged: (ticket) => this.live.apply(ticket, false), toast: (m, bad) => this.toast(m, bad) });
    this.popup = new CriticalPopup({ onAck, onOpen: onPick, sound: this.sound });
    // Measurements only for the parties whose duty needs them (the API says which views).
    const views = new Set(me.views ?? []);
    const measures = views.has("devices");
    this.health = measures ? new HealthPanel(byId("health"), {
      onOffline: (places) => this.map.setOffline(places) }) : null;
    this.trends = measures && VIEW === "wall" ? new TrendsPanel(byId("trends")) : null;
    this.live = new LiveTickets({
      onChange: (ticket, previous, live) => this.changed(ticket, previous, live),
      onLoaded: () => this.loaded(),
      onState: (state) => this.topBar.connection(state),
      onError: (error) => this.toast(`${t("action.failed")}: ${error.message}`, true),
    });
    this.store = this.live.store;
  }

  start() {
    // "/" is the property office's alarm wall; the other parties that open it see their own
    // tickets there, under a title that does not call it the property office's.
    this.viewKey = VIEW === "wall" && this.party !== "property_office" ? "view.desk"
      : `view.${VIEW}`;
    byId("view-title").dataset.i18n = this.viewKey;
    applyStatic(byId("view-title").parentElement);
    document.title = `${t("app.name")} · ${t(this.viewKey)}`;
    this.topBar = new TopBar(this.party);
    byId("qr-sheet").hidden = !QR_PRINTERS.has(this.party);
    byId("absences-open").hidden = this.absences === null;
    // The committee's button opens its visits and absences; the police room's, the absences.
    byId("absences-open").dataset.i18n = this.absences?.declares ? "elderly.open" : "away.open";
    applyStatic(byId("absences-open").parentElement);
    byId("absences-open").addEventListener("click", () => this.absences?.open());
    this.operations = new OperationsBanner();
    this.operations.start();
    document.body.dataset.readonly = this.readOnly ? "1" : "0";
    onLangChange(() => this.relabel());
    if (!this.trends) byId("trends-panel").hidden = true;
    if (!this.health) document.body.dataset.side = "none";
    this.live.start();
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
      const layout = await api("/api/layout");
      this.map.setLayout(layout);
      const estate = layout.estates?.[0]?.estate_id;
      if (estate) byId("qr-sheet").href = `/reports/qr?estate=${encodeURIComponent(estate)}`;
      this.shapeSeen = null; // the new cells need colouring
      this.scheduler.request();
    } catch {
      // Retried on the next refresh; tickets still show in the queue.
    }
  }

  /** A snapshot arrived: the open critical tickets wait in the pop-up. */
  loaded() {
    for (const ticket of this.store.active()) {
      if (ticket.severity === "critical" && ticket.status === "open") this.popup.push(ticket);
    }
    document.body.dataset.loaded = "1";
    this.scheduler.request();
  }

  /** A new critical ticket sounds, pops up and lights its place; any change re-renders. */
  changed(ticket, previous, live) {
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
      if (updated && updated.id !== undefined) this.live.apply(updated, false);
      this.toast(`${t("action.ack")} · ${t("action.done")}`);
    } catch (error) {
      this.toast(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      this.queue.pending.delete(id);
      this.scheduler.request();
    }
  }

  render() {
    // Counted for diagnostics: many updates, few renders is the batching at work.
    this.renders = (this.renders ?? 0) + 1;
    document.body.dataset.renders = String(this.renders);
    const active = this.store.active();
    this.queue.setItems(active);
    if (this.shapeSeen !== this.store.shapeVersion) {
      this.shapeSeen = this.store.shapeVersion;
      this.map.update(active);
      this.renderCounts(active);
    }
    this.banner.update(active);
    this.popup.sync((id) => this.store.get(id));
    // A storm brings thousands of new tickets between two frames: only the latest few places
    // flash (each flash restarts an animation, which costs a layout pass).
    for (const location of this.highlights.splice(0).slice(-MAX_HIGHLIGHTS)) {
      this.map.highlight(location);
    }
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

  everySecond() {
    this.topBar.tick();
    this.queue.refreshTimes();
    this.banner.refreshTimes();
    this.drawer.refreshTimes();
    this.sound.refresh();
    this.popup.tick();
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
    document.title = `${t("app.name")} · ${t(this.viewKey)}`;
    this.topBar.relabel();
    this.operations.relabel();
    this.shapeSeen = null;
    this.queue.relabel();
    this.banner.relabel();
    this.map.relabel();
    this.drawer.relabel();
    this.popup.relabel();
    this.absences?.relabel();
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
  const me = await signIn();
  new Console(me).start();
}

main();
