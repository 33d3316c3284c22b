// The residents' committee's dialog for elderly people living alone: this month's visits
// (js/visits.js) and the declared absences (a trip to family, a stay in hospital), which the
// committee declares and ends here; the police room opens it to read the absences only. A
// welfare alarm of a household inside its absence makes no ticket (docs/welfare.md), so a
// committee member who learns at the door that the person is away says so once, and the trip
// raises nothing more.
import { api } from "./api.js";
import { h, labelledForm, setChildren } from "./dom.js";
import { formatLocation, formatTime, localInputTime, partyLabel, t } from "./i18n.js";
import { VisitsSection } from "./visits.js";

/** The parties the platform lets read absences (routes/away.py READS); the first declares. */
export const ABSENCE_READERS = new Set(["residents_committee", "police_room"]);
const DECLARER = "residents_committee";
const DAY_MS = 86_400_000;
const MAX_DAYS = 92; // the platform's longest absence (gongzhi.hub.away.MAX_AWAY_MS)
const ENDED_SHOWN = 20; // the latest ended ones: the rest are in the audit log

/** "upcoming", "away" or "ended" at ``now``. */
export function absenceState(absence, now) {
  const until = absence.ended_at === null ? absence.ends_at
    : Math.min(absence.ends_at, absence.ended_at);
  if (until <= now) return "ended";
  return absence.starts_at > now ? "upcoming" : "away";
}

export class AbsencesDialog {
  constructor({ party, now }) {
    this.declares = party === DECLARER;
    this.now = now;
    this.absences = [];
    this.households = [];
    // Built once: a refresh re-renders the list, never the form being filled in.
    this.household = h("select", { id: "away-household", required: true });
    this.until = h("input", { id: "away-until", type: "datetime-local", required: true });
    this.note = h("input", { id: "away-note", type: "text", maxlength: 500 });
    this.submit = h("button", { class: "btn btn-primary", type: "submit" });
    ({ form: this.form, labels: this.labels } = labelledForm("away-form absence-form",
      [this.household, this.until, this.note], this.submit, () => this.declare()));
    this.title = h("h2", { class: "away-title" });
    this.absencesTitle = h("h3", { class: "away-section-title" });
    this.visits = this.declares ? new VisitsSection({ say: (m, bad) => this.say(m, bad) }) : null;
    this.hint = h("p", { class: "muted away-hint" });
    this.closeButton = h("button", { class: "btn btn-quiet", type: "button", text: "✕",
      onclick: () => this.dialog.close() });
    this.list = h("div", { class: "away-list", role: "table" });
    // The dialog is modal, over the page's toasts: what an action did is said in it.
    this.message = h("p", { class: "away-message", role: "status" });
    this.dialog = h("dialog", { id: "absences", class: "away" },
      h("header", { class: "away-head" }, this.title, this.closeButton), this.message,
      this.visits?.el ?? null, this.absencesTitle, this.hint, this.declares ? this.form : null,
      this.list);
    document.body.append(this.dialog);
    this.relabel();
  }

  /** Open, the form filled for ``prefill`` ({estate_id, household}) when given. */
  async open(prefill = null) {
    if (!this.dialog.open) this.dialog.showModal();
    this.say("");
    if (this.declares) {
      this.until.min = localInputTime(this.now());
      this.until.max = localInputTime(this.now() + MAX_DAYS * DAY_MS);
      if (!this.until.value) this.until.value = localInputTime(this.now() + 3 * DAY_MS);
    }
    await this.refresh();
    if (prefill && this.declares) {
      this.household.value = `${prefill.estate_id}|${prefill.household}`;
      this.note.focus();
    }
  }

  say(text, bad = false) {
    this.message.textContent = text;
    this.message.classList.toggle("bad", bad);
  }

  async refresh() {
    try {
      const [absences, households] = await Promise.all([api("/api/away"),
        this.declares ? api("/api/away/households") : Promise.resolve([]),
        this.visits?.refresh()]);
      this.absences = absences;
      this.households = households;
      this.render();
    } catch (error) {
      this.say(`${t("action.failed")}: ${error.message}`, true);
    }
  }

  async declare() {
    const [estate_id, household] = this.household.value.split("|");
    const ends = new Date(this.until.value).getTime();
    if (!household || Number.isNaN(ends)) return;
    this.submit.disabled = true;
    try {
      await api("/api/away", { method: "POST",
        body: { estate_id, household, ends_at: ends, note: this.note.value.trim() } });
      this.note.value = "";
      this.say(t("away.declared"));
      await this.refresh();
    } catch (error) {
      this.say(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      this.submit.disabled = false;
    }
  }

  async end(absence, button) {
    button.disabled = true;
    try {
      await api(`/api/away/${absence.id}/end`, { method: "POST" });
      this.say(t("away.ended"));
      await this.refresh();
    } catch (error) {
      button.disabled = false;
      this.say(`${t("action.failed")}: ${error.message}`, true);
    }
  }

  place(absence) {
    const flat = this.households.find((x) => x.estate_id === absence.estate_id
      && x.household === absence.household);
    return flat ? `${formatLocation(flat.location)} · ${absence.household}` : absence.household;
  }

  render() {
    const chosen = this.household.value;
    setChildren(this.household, h("option", { value: "", text: t("away.pick") }),
      this.households.map((x) => h("option", { value: `${x.estate_id}|${x.household}`,
        text: `${formatLocation(x.location)} · ${x.household}` })));
    this.household.value = chosen;
    const now = this.now();
    const order = { away: 0, upcoming: 1, ended: 2 };
    const rows = this.absences.map((a) => ({ a, state: absenceState(a, now) }))
      .sort((x, y) => order[x.state] - order[y.state]
        || (x.state === "ended" ? y.a.ends_at - x.a.ends_at : x.a.ends_at - y.a.ends_at));
    const shown = [...rows.filter((r) => r.state !== "ended"),
      ...rows.filter((r) => r.state === "ended").slice(0, ENDED_SHOWN)];
    if (shown.length === 0) {
      setChildren(this.list, h("p", { class: "empty", text: t("away.none") }));
      return;
    }
    setChildren(this.list, shown.map(({ a, state }) => {
      const back = this.declares && state !== "ended" ? h("button", { class: "btn", type: "button",
        text: t("away.end"), dataset: { action: "end" } }) : null;
      back?.addEventListener("click", () => this.end(a, back));
      return h("div", { class: "away-row", role: "row", dataset: { state, id: String(a.id) } },
        h("span", { class: "away-state", text: t(`away.state.${state}`) }),
        h("span", { class: "away-place", text: this.place(a) }),
        h("span", { class: "away-span",
          text: `${formatTime(a.starts_at)} – ${formatTime(Math.min(a.ends_at,
            a.ended_at ?? a.ends_at))}` }),
        h("span", { class: "away-note", text: a.note || "" }),
        h("span", { class: "away-held", text: a.held_alarms
          ? t("away.held", { n: a.held_alarms }) : "" }),
        h("span", { class: "away-by", text: partyLabel(a.declared_by) }),
        back);
    }));
  }

  relabel() {
    this.title.textContent = t(this.declares ? "elderly.title" : "away.title");
    this.absencesTitle.textContent = t("away.section");
    this.visits?.relabel();
    this.hint.textContent = t(this.declares ? "away.hint" : "away.hint.read");
    this.closeButton.setAttribute("aria-label", t("drawer.close"));
    this.labels["away-household"].textContent = t("away.household");
    this.labels["away-until"].textContent = t("away.until");
    this.labels["away-note"].textContent = t("away.note");
    this.note.placeholder = t("away.note.placeholder");
    this.submit.textContent = t("away.declare");
    if (this.dialog.open) this.render();
  }
}
