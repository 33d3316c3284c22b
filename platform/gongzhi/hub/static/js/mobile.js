// The mobile page of one ticket, opened from a signed link: /m/<ticket id>#<token>. The token
// stays in the fragment (never sent in a URL) and goes to the API in the X-Gongzhi-Link header.

import { byId, h, setChildren, setText } from "./dom.js";
import { describeEntry, unreached } from "./timeline.js";
import {
  currentLang, formatDuration, formatLocation, formatTime, kindLabel, localInputTime, partyLabel,
  setLang, severityLabel, statusLabel, t,
} from "./i18n.js";

const WORDS = {
  zh: {
    brand: "共治", refused: "链接无法打开此工单", place: "地点", status: "状态", sla: "时限",
    phone: "电话", note: "备注", comment: "提交备注", timeline: "处置记录",
    expires: "链接有效至 {time}", left: "剩余 {d}", overdue: "已超时 {d}", none: "无时限",
    failed: "操作失败：{m}", by: "{name}（链接）",
    "reason.expired": "链接已过期，请使用最新的通知或联系值班室。",
    "reason.other_ticket": "此链接属于另一张工单。",
    "reason.forged": "链接无效（签名不符）。",
    "reason.malformed": "请从收到的通知中打开链接。",
    "reason.unknown_person": "您已不在该单位的值班名单中。",
    "away.title": "老人不在家？登记外出（期间不再生成关怀工单）",
    "away.until": "预计回家时间", "away.send": "登记外出",
    "away.declared": "已登记外出：{from} 至 {until}{note}",
  },
  en: {
    brand: "Gongzhi", refused: "This link does not open the ticket", place: "Place",
    status: "Status", sla: "Deadline", phone: "Phone", note: "Note", comment: "Send note",
    timeline: "Timeline", expires: "Link valid until {time}", left: "{d} left",
    overdue: "overdue by {d}", none: "no deadline", failed: "Action failed: {m}",
    by: "{name} (link)",
    "reason.expired": "The link has expired: use the newest message or call the duty office.",
    "reason.other_ticket": "This link belongs to another ticket.",
    "reason.forged": "The link is not valid (signature does not match).",
    "reason.malformed": "Open the link from the message you were sent.",
    "reason.unknown_person": "You are no longer on the party's duty roster.",
    "away.title": "Nobody home? Declare the absence (no welfare ticket while it lasts)",
    "away.until": "Away until", "away.send": "Declare absence",
    "away.declared": "Absence declared: {from} to {until}{note}",
  },
};
const ACTIONS = ["ack", "dispatch", "arrive", "resolve", "false_alarm"];
const ACTIVE = new Set(["open", "acknowledged", "dispatched", "on_site"]);
const DAY_MS = 86_400_000;

const ticketId = Number(location.pathname.split("/").pop());
const token = decodeURIComponent(location.hash.slice(1));
let view = null;
let refusal = null;

function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "X-Gongzhi-Link": token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

function showRefused(detail) {
  refusal = detail;
  document.body.dataset.state = "refused";
  byId("m-ticket").hidden = true;
  byId("m-refused").hidden = false;
  const reason = detail && detail.reason;
  const text = WORDS[currentLang()][`reason.${reason}`] ?? (detail && detail.message) ?? "";
  byId("m-refused-reason").dataset.reason = reason || "";
  setText(byId("m-refused-reason"), text);
}

function slaText(ticket) {
  if (ticket.due_at == null) return w("none");
  const left = ticket.due_at - Date.now();
  const d = formatDuration(Math.abs(left));
  return left >= 0 ? w("left", { d }) : w("overdue", { d });
}

function entryText(entry) {
  const data = entry.data || {};
  const who = data.via === "link" && data.name ? w("by", { name: data.name })
    : partyLabel(entry.actor);
  return [who, describeEntry(entry).what, entry.note].filter(Boolean).join(" · ");
}

function render() {
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = w(el.dataset.t);
  byId("m-lang").textContent = currentLang() === "zh" ? "EN" : "中文";
  if (refusal) {
    showRefused(refusal);
    return;
  }
  if (!view) return;
  const ticket = view.ticket;
  document.body.dataset.state = "ready";
  document.body.dataset.status = ticket.status;
  byId("m-refused").hidden = true;
  byId("m-ticket").hidden = false;
  setText(byId("m-who"), `${view.person.name} · ${partyLabel(view.party)}`);
  const sev = byId("m-severity");
  sev.dataset.severity = ticket.severity;
  setText(sev, severityLabel(ticket.severity));
  setText(byId("m-kind"), kindLabel(ticket.kind));
  setText(byId("m-id"), `#${ticket.id}`);
  setText(byId("m-place"), formatLocation(ticket.location) || ticket.device_id);
  setText(byId("m-status"), statusLabel(ticket.status));
  setText(byId("m-sla"), slaText(ticket));
  setText(byId("m-phone"), ticket.phone || "—");
  const allowed = new Set(ticket.allowed_actions);
  setChildren(byId("m-actions"), ACTIONS.filter((a) => allowed.has(a)).map((action) => h(
    "button", { class: "m-btn", type: "button", dataset: { action }, onclick: () => act(action) },
    t(`action.${action}`))));
  byId("m-send").disabled = !allowed.has("comment");
  setChildren(byId("m-timeline"), [...view.timeline].reverse().map((entry) => h("li",
    { class: unreached(entry) ? "unreached" : null,
      dataset: { type: entry.type, action: entry.action || "" } },
    h("time", {}, formatTime(entry.ts)), entryText(entry))));
  setText(byId("m-expires"), w("expires", { time: formatTime(view.expires_at) }));
  renderAway(ticket);
}

// The committee's welfare check: the absence declared, or the form to declare it.
function renderAway(ticket) {
  const absence = view.absence;
  const declared = byId("m-away-declared");
  declared.hidden = !absence;
  if (absence) {
    setText(declared, w("away.declared", { from: formatTime(absence.starts_at),
      until: formatTime(absence.ends_at), note: absence.note ? ` · ${absence.note}` : "" }));
  }
  const form = byId("m-away");
  form.hidden = Boolean(absence) || view.party !== "residents_committee"
    || ticket.kind !== "welfare_check" || !ACTIVE.has(ticket.status);
  const until = byId("m-away-until");
  if (!form.hidden && !until.value) until.value = localInputTime(Date.now() + 3 * DAY_MS);
}

async function declareAway() {
  const ends = new Date(byId("m-away-until").value).getTime();
  if (Number.isNaN(ends)) return;
  const error = byId("m-error");
  error.hidden = true;
  byId("m-away-send").disabled = true;
  const { status, data } = await call("POST", `/api/m/${ticketId}/away`,
    { ends_at: ends, note: byId("m-away-note").value.trim() });
  byId("m-away-send").disabled = false;
  if (status === 201) {
    view = data;
  } else {
    error.hidden = false;
    const message = typeof data.detail === "object" ? data.detail.message : data.detail;
    setText(error, w("failed", { m: message || status }));
  }
  render();
}

async function load() {
  const { status, data } = await call("GET", `/api/m/${ticketId}`);
  if (status === 200) {
    if (!view) setLang(localStorageLang() ?? data.person.language);
    view = data;
  } else {
    refusal = typeof data.detail === "object" ? data.detail : { message: String(data.detail) };
  }
  render();
}

function localStorageLang() {
  try {
    return localStorage.getItem("gongzhi.lang");
  } catch {
    return null;
  }
}

async function act(action, note) {
  const error = byId("m-error");
  error.hidden = true;
  for (const button of document.querySelectorAll(".m-btn")) button.disabled = true;
  const { status, data } = await call("POST", `/api/m/${ticketId}/actions`,
    { action, note: note || null });
  if (status === 200) {
    view = data;
  } else if (status === 403 && data.detail && data.detail.reason in {
    expired: 1, forged: 1, other_ticket: 1, malformed: 1, unknown_person: 1 }) {
    refusal = data.detail;
  } else {
    error.hidden = false;
    const message = typeof data.detail === "object" ? data.detail.message : data.detail;
    setText(error, w("failed", { m: message || status }));
  }
  render();
}

byId("m-lang").addEventListener("click", () => {
  setLang(currentLang() === "zh" ? "en" : "zh");
  render();
});
byId("m-comment").addEventListener("submit", (event) => {
  event.preventDefault();
  const note = byId("m-note").value.trim();
  if (!note) return;
  byId("m-note").value = "";
  act("comment", note);
});
byId("m-away").addEventListener("submit", (event) => {
  event.preventDefault();
  declareAway();
});
load();
// The deadline counts down every second; what others did is fetched every 15 s.
let ticks = 0;
setInterval(() => {
  if (!view || refusal) return;
  ticks += 1;
  if (ticks % 15 === 0) load();
  else render();
}, 1000);
