// What the residents' pages share: their words in Chinese and English, the language switch and
// calls to the reports API with a link token in a header (never in a URL the server logs).

import { byId } from "./dom.js";
import { currentLang, formatTime, partyLabel, setLang } from "./i18n.js";

const WORDS = {
  zh: {
    brand: "共治", title: "向社区反映问题", refused: "无法打开此页面",
    hint: "物业、居委会等责任单位会收到您的反映，并在此回复。",
    category: "问题类型", text: "情况说明", photos: "照片（最多 3 张，可不传）",
    phone: "联系电话（可不填，仅处理单位可见）",
    privacy: "照片的位置等信息会被去除；您的反映不会展示给其他居民。",
    send: "提交", sending: "正在提交…", done: "已收到您的反映",
    keep: "请保存下面的进度链接：这是查看处理进度和回复的唯一入口。",
    open_track: "查看处理进度", pick: "请选择问题类型", say: "请说明情况",
    too_many: "最多 3 张照片", failed: "提交失败：{m}", where: "{estate} · {building} 栋",
    status: "状态", sent: "提交时间", handled_by: "处理单位", replies: "回复",
    no_reply: "暂无回复", rate: "请评价处理结果", comment: "意见（可不填）",
    send_rating: "提交评价", rated: "您的评价：{stars} 星", thanks: "感谢您的评价",
    "step.received": "已受理", "step.acknowledged": "已确认", "step.on_site": "已到场处理",
    "step.closed": "已办结",
    "status.open": "待处理", "status.acknowledged": "处理中", "status.dispatched": "处理中",
    "status.on_site": "现场处理中", "status.resolved": "已解决", "status.false_alarm": "已核实关闭",
    "reason.forged": "二维码链接无效。", "reason.malformed": "请扫描楼栋公告栏上的二维码。",
    "reason.unknown_building": "本楼栋暂未开通此服务。",
    "reason.unknown_report": "此进度链接无效。",
    "reason.track_forged": "此进度链接无效。", "reason.track_malformed": "请打开提交反映后得到的进度链接。",
    mine: "我在本机提交过的反映",
    "cat.fire_exit": "消防通道堵塞", "cat.ebike": "电动车违停楼道或入户充电", "cat.water_leak": "漏水",
    "cat.facility": "照明或电梯故障", "cat.construction": "违章搭建", "cat.other": "其他",
  },
  en: {
    brand: "Gongzhi", title: "Report a problem to the community", refused: "This page cannot open",
    hint: "The property office, the residents' committee and the other parties in charge get your report and reply here.",
    category: "What is wrong", text: "What you see", photos: "Photos (up to 3, optional)",
    phone: "Phone (optional, only for the party handling it)",
    privacy: "Location and camera data are removed from photos; no other resident sees your report.",
    send: "Send", sending: "Sending…", done: "Your report has arrived",
    keep: "Keep the link below: it is the only way to follow your report and read the reply.",
    open_track: "Follow my report", pick: "Choose what is wrong", say: "Say what you see",
    too_many: "At most 3 photos", failed: "Not sent: {m}", where: "{estate} · building {building}",
    status: "Status", sent: "Sent", handled_by: "Handled by", replies: "Replies",
    no_reply: "No reply yet", rate: "How was it handled?", comment: "Comment (optional)",
    send_rating: "Send rating", rated: "Your rating: {stars} stars", thanks: "Thank you for rating",
    "step.received": "Received", "step.acknowledged": "Taken up", "step.on_site": "On site",
    "step.closed": "Closed",
    "status.open": "Waiting", "status.acknowledged": "In hand", "status.dispatched": "In hand",
    "status.on_site": "Being fixed on site", "status.resolved": "Resolved",
    "status.false_alarm": "Checked and closed",
    "reason.forged": "This QR code link is not valid.",
    "reason.malformed": "Scan the QR code on your building's notice board.",
    "reason.unknown_building": "This building does not have the service yet.",
    "reason.unknown_report": "This tracking link is not valid.",
    "reason.track_forged": "This tracking link is not valid.",
    "reason.track_malformed": "Open the tracking link you were given after reporting.",
    mine: "Reports sent from this phone",
    "cat.fire_exit": "Blocked fire exit", "cat.ebike": "E-bike in a corridor or charging indoors",
    "cat.water_leak": "Water leak", "cat.facility": "Broken light or lift",
    "cat.construction": "Illegal construction", "cat.other": "Other",
  },
};

export function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export { formatTime, partyLabel };

/** Fill every [data-w] element and the switch's own label; ``render`` redraws the rest. */
export function setupLanguage(render) {
  const apply = () => {
    for (const el of document.querySelectorAll("[data-w]")) el.textContent = w(el.dataset.w);
    byId("m-lang").textContent = currentLang() === "zh" ? "EN" : "中文";
    render();
  };
  byId("m-lang").addEventListener("click", () => {
    setLang(currentLang() === "zh" ? "en" : "zh");
    apply();
  });
  apply();
}

export async function call(method, path, header, token, body) {
  const response = await fetch(path, {
    method,
    headers: { [header]: token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

/** The message of a refusal, in the page's language where the reason is known (``page``: the
 * tracking page's own words for a reason both pages know). */
export function refusalText(detail, page = "") {
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    const words = WORDS[currentLang()];
    const known = words[`reason.${page}${detail.reason}`] ?? words[`reason.${detail.reason}`];
    return known ?? detail.message ?? "";
  }
  if (Array.isArray(detail)) return detail.map((e) => e.msg).join("; ");
  return detail ? String(detail) : "";
}

// The tracking links of the reports sent from this phone, newest first, kept on the phone only
// (the platform cannot list them: a link is the only way to a report).
const MINE_KEY = "gongzhi.reports";
const MINE_KEPT = 10;

export function myReports() {
  try {
    const kept = JSON.parse(localStorage.getItem(MINE_KEY) ?? "[]");
    return Array.isArray(kept) ? kept : [];
  } catch {
    return [];
  }
}

export function rememberReport(entry) {
  try {
    const kept = [entry, ...myReports().filter((e) => e.token !== entry.token)];
    localStorage.setItem(MINE_KEY, JSON.stringify(kept.slice(0, MINE_KEPT)));
  } catch {
    // Private mode: the link shown after sending is all there is.
  }
}
