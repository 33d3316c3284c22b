// Residents' reports on the supervision view: per party handling them, how many, the SLA
// statistic of their tickets and the residents' satisfaction (aggregates, no personal data); the
// residents' committee's routine visits this month, as counts per estate; and the estate's
// monthly report as a PDF for the branch meeting.
import { api, authHeaders, getToken } from "./api.js";
import { byId, h, setChildren, setText } from "./dom.js";
import { currentLang, onLangChange, partyLabel } from "./i18n.js";

const REFRESH_MS = 60_000;
const WORDS = {
  zh: {
    title: "居民反映（近 30 天）：各单位响应与满意度", party: "责任单位", reports: "反映数",
    sla: "时限达标", ack: "中位响应", resolve: "中位办结", rating: "满意度", none: "近 30 天无居民反映",
    estate: "月度报告（PDF）小区", get: "下载", busy: "正在生成…", failed: "生成失败：{m}",
    stars: "{m} 星（{n} 次）", min: "分钟", h: "小时",
    visits: "居委会例行走访（{month}）：", visits_estate: "{estate} 小区 {visited}/{homes} 家已走访"
      + "（共 {n} 次，需要帮助 {help} 次）", visits_none: "无登记的走访对象",
  },
  en: {
    title: "Residents' reports (last 30 days): response and satisfaction per party",
    party: "Party", reports: "Reports", sla: "SLA met", ack: "Median response",
    resolve: "Median resolution", rating: "Satisfaction", none: "No residents' reports in 30 days",
    estate: "Monthly report (PDF) of estate", get: "Download", busy: "Generating…",
    failed: "Failed: {m}", stars: "{m} stars ({n})", min: "min", h: "h",
    visits: "Residents' committee's routine visits ({month}): ",
    visits_estate: "{estate}: {visited} of {homes} homes visited ({n} visits, {help} needing help)",
    visits_none: "no homes to visit registered",
  },
};
let summary = null;
let visits = null;

function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function duration(figure) {
  const s = figure?.median_s;
  if (s === null || s === undefined) return "—";
  return s < 3600 ? `${(s / 60).toFixed(0)} ${w("min")}` : `${(s / 3600).toFixed(1)} ${w("h")}`;
}

function render() {
  setText(byId("sup-reports-title"), w("title"));
  setText(byId("sup-monthly-estate-label"), w("estate"));
  setText(byId("sup-monthly-get"), w("get"));
  if (visits) {
    const estates = visits.estates.map((e) => w("visits_estate", { estate: e.estate_id,
      visited: e.visited, homes: e.homes, n: e.visits, help: e.needs_help }));
    setText(byId("sup-visits"), w("visits", { month: visits.month })
      + (estates.length ? estates.join(currentLang() === "zh" ? "；" : "; ") : w("visits_none")));
  }
  if (!summary) return;
  const rows = summary.by_party;
  if (!rows.length) {
    setChildren(byId("sup-reports"), h("p", { class: "muted" }, w("none")));
    return;
  }
  const head = ["party", "reports", "sla", "ack", "resolve", "rating"];
  setChildren(byId("sup-reports"), h("table", { class: "sup-reports-table" },
    h("thead", {}, h("tr", {}, head.map((k) => h("th", {}, w(k))))),
    h("tbody", {}, rows.map((p) => h("tr", { dataset: { party: p.party } },
      h("td", {}, partyLabel(p.party)), h("td", {}, String(p.reports)),
      h("td", {}, p.sla_decided ? `${Math.round(100 * p.sla_met / p.sla_decided)}% `
        + `(${p.sla_met}/${p.sla_decided})` : "—"),
      h("td", {}, duration(p.time_to_ack)), h("td", {}, duration(p.time_to_resolve)),
      h("td", {}, p.rating_mean === null ? "—"
        : w("stars", { m: p.rating_mean.toFixed(1), n: p.ratings })))))));
}

async function load() {
  if (!getToken()) return;
  try {
    [summary, visits] = await Promise.all([api("/api/supervision/reports?days=30"),
      api("/api/supervision/visits")]);
    document.body.dataset.reportsLoaded = "1";
    render();
  } catch {
    // The page's own banner tells of an outage; the next refresh tries again.
  }
}

function lastMonth() {
  const now = new Date();
  const first = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  return `${first.getFullYear()}-${String(first.getMonth() + 1).padStart(2, "0")}`;
}

byId("sup-monthly-month").value = lastMonth();
byId("sup-monthly").addEventListener("submit", async (event) => {
  event.preventDefault();
  const estate = byId("sup-monthly-estate").value.trim();
  const month = byId("sup-monthly-month").value;
  const state = byId("sup-monthly-state");
  setText(state, w("busy"));
  const query = new URLSearchParams({ estate, month });
  const response = await fetch(`/api/supervision/monthly-report?${query}`,
    { headers: authHeaders(), cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    setText(state, w("failed", { m: typeof data.detail === "string" ? data.detail
      : response.status }));
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: `gongzhi-${estate}-${month}.pdf` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  setText(state, "");
});
onLangChange(render);
render();
// The page signs in first (supervision.js); the figures follow once a token is there.
const waitForToken = setInterval(() => {
  if (getToken()) {
    clearInterval(waitForToken);
    load();
    setInterval(load, REFRESH_MS);
  }
}, 300);
