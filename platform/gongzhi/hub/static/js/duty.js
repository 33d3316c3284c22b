// Who of the signed-in party is on duty now, and the maintenance windows still open or to come:
// a small panel on the alarm wall, the police console and the supervision view. It waits for
// the page's sign-in (the token in sessionStorage), then refreshes every 30 s.

import { ApiError, api, getToken } from "./api.js";
import { h, setChildren } from "./dom.js";
import { currentLang, formatTime, kindLabel, onLangChange, partyLabel } from "./i18n.js";

const WORDS = {
  zh: {
    duty: "当前值班", nobody: "无人值班", until: "至 {time}", holiday: "节假日",
    windows: "维护窗口", none: "无", open: "静默中", waiting: "下次 {time}",
    scheduled: "{time} 开始", every: "每{days} {from}-{to}", ends: "止 {time}",
    mon: "周一", tue: "周二", wed: "周三", thu: "周四", fri: "周五", sat: "周六", sun: "周日",
    estate: "小区", building: "栋", riser: "立管", device: "设备",
  },
  en: {
    duty: "On duty", nobody: "nobody on duty", until: "until {time}", holiday: "holiday",
    windows: "Maintenance windows", none: "none", open: "silencing", waiting: "next {time}",
    scheduled: "from {time}", every: "every {days} {from}-{to}", ends: "ends {time}",
    mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun",
    estate: "estate", building: "building", riser: "riser", device: "device",
  },
};
const REFRESH_MS = 30_000;

let party = null;
let duty = null;
let windows = null;

function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function targetText(target) {
  const parts = [];
  for (const key of ["estate", "building", "riser", "device"]) {
    if (target[key]) parts.push(`${w(key)} ${target[key]}`);
  }
  if (target.kinds) parts.push(target.kinds.map(kindLabel).join("、"));
  return parts.join(" · ");
}

function whenText(win) {
  if (win.state === "open") return w("open");
  const next = win.next_open_at;
  const slot = win.weekly
    ? w("every", { days: win.weekly.weekdays.map((d) => w(d)).join("、"),
      from: win.weekly.from, to: win.weekly.to })
    : "";
  const upcoming = next ? w(win.state === "scheduled" ? "scheduled" : "waiting",
    { time: formatTime(next) }) : "";
  return [slot, upcoming].filter(Boolean).join(" · ");
}

function render(root) {
  const children = [];
  if (duty && duty.shift !== null) {
    const people = duty.people.map((p) => p.name).join("、") || w("nobody");
    children.push(h("div", { class: "duty-now", dataset: { shift: duty.shift || "" } },
      h("span", { class: "duty-label" }, `${w("duty")}：`),
      h("span", { class: "duty-people", id: "duty-people" }, people),
      duty.ends_at ? h("span", { class: "duty-until" },
        ` ${w("until", { time: formatTime(duty.ends_at) })}`) : null,
      duty.holiday ? h("span", { class: "duty-holiday" }, ` · ${w("holiday")}`) : null));
  }
  if (windows) {
    children.push(h("div", { class: "duty-label" }, `${w("windows")}：`,
      windows.length ? null : w("none")));
    children.push(h("ul", { class: "windows-list", id: "windows-list" },
      windows.map((win) => h("li", { dataset: { window: win.id, state: win.state } },
        h("strong", {}, `#${win.id} ${targetText(win.target)}`), " — ", win.reason,
        h("div", { class: "window-when" },
          `${whenText(win)} · ${w("ends", { time: formatTime(win.ends_at) })} · `
          + partyLabel(win.author))))));
  }
  setChildren(root, children);
  root.hidden = children.length === 0;
}

async function refresh(root) {
  if (!getToken()) return;
  try {
    if (!party) party = (await api("/api/me")).party;
    const [shift, found] = await Promise.all([
      api(`/api/parties/${party}/on-duty`).catch(() => null),
      api("/api/windows").catch(() => null),
    ]);
    duty = shift;
    windows = found ? found.windows : null;
  } catch (error) {
    // Signed out or another token: ask who again next time. The platform out of reach: keep
    // what is shown (the page's banner says so).
    if (error instanceof ApiError) party = null;
  }
  render(root);
}

// Until the page is signed in and the first answers came, look every 2 s; then every 30 s.
const FIRST_MS = 2_000;

function start() {
  const root = document.getElementById("duty");
  if (!root) return;
  const loop = async () => {
    await refresh(root);
    setTimeout(loop, party ? REFRESH_MS : FIRST_MS);
  };
  loop();
  document.addEventListener("visibilitychange", () => refresh(root));
  onLangChange(() => render(root));
}

start();
