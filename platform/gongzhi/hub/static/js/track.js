// The resident's tracking page: /r/t#<tracking link>. It shows that one report: where it
// stands, the replies of the party handling it, and once it is closed, takes a rating.

import { byId, h, setChildren, setText } from "./dom.js";
import { call, formatTime, partyLabel, refusalText, setupLanguage, w } from "./resident.js";

const HEADER = "X-Gongzhi-Track";
const token = decodeURIComponent(location.hash.slice(1));
const STEPS = ["received", "acknowledged", "on_site", "closed"];
let view = null;
let refusal = null;
let stars = 0;
let categories = {};

function render() {
  if (refusal) {
    document.body.dataset.state = "refused";
    byId("t-report").hidden = true;
    byId("t-refused").hidden = false;
    setText(byId("t-refused-reason"), refusalText(refusal, "track_"));
    return;
  }
  if (!view) return;
  const report = view.report;
  document.body.dataset.state = "ready";
  document.body.dataset.status = view.status;
  byId("t-report").hidden = false;
  setText(byId("t-where"), w("where", { estate: report.estate_id, building: report.building }));
  setText(byId("t-category"), categories[report.category] ?? report.category);
  setText(byId("t-status"), w(`status.${view.status}`));
  setText(byId("t-sent"), formatTime(report.created_at));
  setText(byId("t-party"), partyLabel(view.party));
  setText(byId("t-text"), report.text);
  setChildren(byId("t-steps"), STEPS.filter((s) => view.steps[s] != null).map((s) => h("li",
    { dataset: { step: s } }, h("time", {}, formatTime(view.steps[s])), w(`step.${s}`))));
  setChildren(byId("t-replies"), view.replies.length ? view.replies.map((r) => h("li", {},
    h("time", {}, `${formatTime(r.ts)} · ${partyLabel(r.party)}`), r.text))
    : [h("li", { class: "r-none" }, w("no_reply"))]);
  byId("t-rate").hidden = !view.can_rate;
  setChildren(byId("t-stars"), [1, 2, 3, 4, 5].map((n) => h("button", {
    type: "button", class: "r-star", role: "radio", "aria-checked": String(n <= stars),
    "aria-label": String(n), dataset: { stars: n },
    onclick: () => { stars = n; byId("t-send").disabled = false; render(); },
  }, "★")));
  const rated = byId("t-rated");
  rated.hidden = !view.rating;
  if (view.rating) setText(rated, `${w("rated", { stars: view.rating.stars })} · ${w("thanks")}`);
}

async function load() {
  const { status, data } = await call("GET", "/api/reports/track", HEADER, token);
  if (status === 200) view = data;
  else refusal = data.detail ?? { message: String(status) };
  render();
}

async function loadCategories() {
  // The category names come from the page's words: the report page's list is behind a building
  // link this page does not have.
  categories = {
    fire_exit: w("cat.fire_exit"), ebike: w("cat.ebike"), water_leak: w("cat.water_leak"),
    facility: w("cat.facility"), construction: w("cat.construction"), other: w("cat.other"),
  };
}

byId("t-rate").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!stars) return;
  const comment = byId("t-comment").value.trim();
  const { status, data } = await call("POST", "/api/reports/track/rating", HEADER, token,
    { stars, comment: comment || null });
  if (status === 200) {
    view = data;
    byId("t-error").hidden = true;
  } else {
    byId("t-error").hidden = false;
    setText(byId("t-error"), refusalText(data.detail));
  }
  render();
});

setupLanguage(() => { loadCategories(); render(); });
load();
setInterval(() => { if (view && !refusal && !view.rating) load(); }, 15000);
