// The residents' committee's visits to elderly people living alone, in the committee's dialog
// (js/absences.js): this month's coverage, the households still to visit first, and the form that
// records a visit and what it found. A door nobody answered is recorded but is not a visit made.
import { api } from "./api.js";
import { h, labelledForm, setChildren } from "./dom.js";
import { formatLocation, formatTime, t } from "./i18n.js";

const OUTCOMES = ["well", "needs_help", "not_home"];

export class VisitsSection {
  constructor({ say }) {
    this.say = say;
    this.coverage = null;
    // Built once: a refresh re-renders the list, never the form being filled in.
    this.household = h("select", { id: "visit-household", required: true });
    this.outcome = h("select", { id: "visit-outcome", required: true });
    this.note = h("input", { id: "visit-note", type: "text", maxlength: 500 });
    this.submit = h("button", { class: "btn btn-primary", type: "submit" });
    ({ form: this.form, labels: this.labels } = labelledForm("away-form visit-form",
      [this.household, this.outcome, this.note], this.submit, () => this.record()));
    this.title = h("h3", { class: "away-section-title" });
    this.count = h("span", { class: "visit-count" });
    this.list = h("div", { class: "away-list visit-list", role: "table" });
    this.el = h("section", { class: "visits" }, h("div", { class: "away-section-head" },
      this.title, this.count), this.form, this.list);
    this.relabel();
  }

  async refresh() {
    this.coverage = await api("/api/visits");
    this.render();
  }

  /** Pick ``key`` ("estate|household") in the form, as a row's button does. */
  pick(key) {
    this.household.value = key;
    this.note.focus();
  }

  async record() {
    const [estate_id, household] = this.household.value.split("|");
    if (!household) return;
    this.submit.disabled = true;
    try {
      const note = this.note.value.trim();
      await api("/api/visits", { method: "POST",
        body: { estate_id, household, outcome: this.outcome.value, note } });
      this.note.value = "";
      this.say(t("visit.recorded"));
      await this.refresh();
    } catch (error) {
      this.say(`${t("action.failed")}: ${error.message}`, true);
    } finally {
      this.submit.disabled = false;
    }
  }

  state(row) {
    if (!row.last) return t("visit.state.none");
    const time = formatTime(row.last.visited_at);
    return row.visited ? t("visit.state.done", { time }) : t("visit.state.door", { time });
  }

  render() {
    const coverage = this.coverage;
    if (!coverage) return;
    this.count.textContent = t("visit.count", { visited: coverage.visited,
      total: coverage.total, month: coverage.month });
    const chosen = this.household.value;
    setChildren(this.household, h("option", { value: "", text: t("away.pick") }),
      coverage.households.map((x) => h("option", { value: `${x.estate_id}|${x.household}`,
        text: `${formatLocation(x.location)} · ${x.household}` })));
    this.household.value = chosen;
    if (coverage.households.length === 0) {
      setChildren(this.list, h("p", { class: "empty", text: t("visit.none") }));
      return;
    }
    setChildren(this.list, coverage.households.map((row) => {
      const key = `${row.estate_id}|${row.household}`;
      return h("div", { class: "away-row visit-row", role: "row",
        dataset: { visited: row.visited ? "1" : "0", household: key } },
      h("span", { class: "away-state", text: row.visited ? "✓" : "—" }),
      h("span", { class: "away-place",
        text: `${formatLocation(row.location)} · ${row.household}` }),
      h("span", { class: "visit-state", text: this.state(row) }),
      h("span", { class: "away-note", text: row.last?.note ?? "" }),
      h("span", { class: "away-held", text: row.last
        ? t(`visit.outcome.${row.last.outcome}`) : "" }),
      h("button", { class: "btn", type: "button", text: t("visit.record.row"),
        dataset: { action: "visit" }, onclick: () => this.pick(key) }));
    }));
  }

  relabel() {
    this.title.textContent = t("visit.title");
    this.labels["visit-household"].textContent = t("away.household");
    this.labels["visit-outcome"].textContent = t("visit.outcome");
    this.labels["visit-note"].textContent = t("away.note");
    this.note.placeholder = t("visit.note.placeholder");
    this.submit.textContent = t("visit.record");
    const chosen = this.outcome.value || OUTCOMES[0];
    setChildren(this.outcome, OUTCOMES.map((value) => h("option", { value,
      text: t(`visit.outcome.${value}`) })));
    this.outcome.value = chosen;
    this.render();
  }
}
