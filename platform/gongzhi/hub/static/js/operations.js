// What is wrong with the system itself, as banners under the top bar: alarms held at a gateway,
// a gateway that stopped processing, fell silent or says what it cannot do (in its own words),
// the platform's database away. An empty wall
// must mean "no alarm", never "no news". Polled: the answer needs no database.
import { api } from "./api.js";
import { h, setChildren } from "./dom.js";
import { formatTime, t } from "./i18n.js";

const REFRESH_MS = 5_000;

export function problemText(problem) {
  const vars = {
    n: problem.count ?? "",
    g: problem.gateway_id ?? "",
    d: problem.detail ?? "",
    t: problem.since_ms === null || problem.since_ms === undefined ? "—"
      : formatTime(problem.since_ms),
  };
  const key = `ops.${problem.kind}`;
  const text = t(key, vars);
  return text === key ? problem.message : text; // a kind this page does not know yet
}

export class OperationsBanner {
  constructor() {
    this.root = h("div", { id: "ops-banner", class: "ops-banner", role: "alert", hidden: true });
    document.querySelector(".topbar").after(this.root);
    this.problems = [];
    this.signature = "";
  }

  start() {
    this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    try {
      const answer = await api("/api/operations");
      this.problems = Array.isArray(answer.problems) ? answer.problems : [];
    } catch {
      // The platform itself is away: the connection banner says so.
      return;
    }
    this.render();
  }

  render() {
    const signature = JSON.stringify(this.problems.map((p) => [p.kind, p.gateway_id, p.count,
      p.since_ms, p.detail])) + t("ops.title");
    if (signature === this.signature) return;
    this.signature = signature;
    this.root.hidden = this.problems.length === 0;
    document.body.dataset.ops = this.problems.length ? "problem" : "ok";
    setChildren(this.root, this.problems.map((problem) => h("div", {
      class: "ops-problem", dataset: { kind: problem.kind, gateway: problem.gateway_id ?? "" },
    },
    h("span", { class: "ops-icon", "aria-hidden": "true", text: "⚠" }),
    h("span", { class: "ops-text", text: problemText(problem) }))));
    // The banner never moves the drawer (whose close button may be under the operator's
    // pointer): while the drawer is open, the banner keeps to its left (app.css).
  }

  relabel() {
    this.signature = "";
    this.render();
  }
}
