// What every screen's top bar does: the party chip, the live/disconnected indicator with its
// banner, the clock, the language switch and signing out.
import { clearToken, serverNow } from "./api.js";
import { byId, h, setText } from "./dom.js";
import {
  applyStatic, currentLang, formatDuration, partyLabel, setLang, t,
} from "./i18n.js";

export function toggleLang() {
  setLang(currentLang() === "zh" ? "en" : "zh");
}

/** The banner that says the platform is out of reach (and since when). */
function disconnectedBanner() {
  const banner = h("div", { id: "disconnected", class: "disconnected", role: "alert",
    hidden: true },
  h("span", { class: "disc-icon", "aria-hidden": "true", text: "⚠" }),
  h("span", { dataset: { i18n: "conn.banner" } }),
  h("span", { id: "disconnected-for", class: "disc-for" }));
  document.querySelector(".topbar").after(banner);
  applyStatic(banner);
  return banner;
}

export class TopBar {
  constructor(party) {
    disconnectedBanner();
    this.party = party;
    this.state = "connecting";
    this.disconnectedAt = null;
    byId("lang").addEventListener("click", toggleLang);
    byId("signout").addEventListener("click", () => {
      clearToken();
      window.location.reload();
    });
    this.relabel();
  }

  /** The stream's state: "connecting", "live" or "disconnected" (with a banner and a timer). */
  connection(state) {
    this.state = state;
    document.body.dataset.conn = state;
    byId("conn").dataset.state = state;
    setText(byId("conn-text"), t(`conn.${state}`));
    if (state === "disconnected") this.disconnectedAt ??= Date.now();
    if (state === "live") this.disconnectedAt = null;
    byId("disconnected").hidden = state !== "disconnected";
    this.tick();
  }

  tick() {
    setText(byId("clock"), new Date(serverNow()).toLocaleTimeString(
      currentLang() === "zh" ? "zh-CN" : "en-GB", { hour12: false }));
    if (this.disconnectedAt !== null) {
      setText(byId("disconnected-for"),
        `${t("conn.since")} ${formatDuration(Date.now() - this.disconnectedAt)}`);
    }
  }

  relabel() {
    document.body.dataset.party = this.party ?? "";
    setText(byId("party"), partyLabel(this.party));
    this.connection(this.state);
  }
}
