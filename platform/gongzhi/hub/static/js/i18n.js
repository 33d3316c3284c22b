// Chinese by default, English on request; the choice is kept per browser (not per sign-in).

const STORAGE_KEY = "gongzhi.lang";

const ZH = {
  "app.name": "共治",
  "view.wall": "物业告警墙",
  "view.police": "警务室联动台",
  "view.desk": "告警与工单",
  "view.supervision": "监督看板",
  "signin.title": "请使用本单位令牌登录",
  "signin.token": "单位令牌",
  "signin.submit": "登录",
  "signin.bad": "令牌无效，请核对后重试",
  "signin.unreachable": "无法连接平台，请稍后重试",
  "signin.hint": "令牌仅保存在本浏览器标签页中，关闭后需重新登录。",
  "signout": "退出",
  "wall.qr": "居民反映二维码",
  "away.open": "外出登记",
  "away.title": "独居老人外出登记",
  "away.hint": "登记后，外出期间该户的关怀告警不再生成工单；提前回家请点“已回家”。",
  "away.hint.read": "居委会登记的独居老人外出（只读）。",
  "away.household": "住户",
  "away.pick": "选择独居老人住户…",
  "away.until": "预计回家时间",
  "away.note": "说明",
  "away.note.placeholder": "如：去女儿家，邻居告知",
  "away.declare": "登记外出",
  "away.declare.from_ticket": "登记外出…",
  "away.end": "已回家",
  "away.none": "没有登记的外出",
  "away.state.away": "外出中",
  "away.state.upcoming": "将外出",
  "away.state.ended": "已结束",
  "away.held": "期间告警 {n} 条，未建单",
  "away.declared": "已登记外出",
  "elderly.open": "独居老人",
  "elderly.title": "独居老人：走访与外出",
  "away.section": "外出登记",
  "visit.title": "本月走访",
  "visit.count": "{month}：{visited}/{total} 户已走访",
  "visit.outcome": "走访情况",
  "visit.outcome.well": "身体良好",
  "visit.outcome.needs_help": "需要帮助",
  "visit.outcome.not_home": "无人应答",
  "visit.note.placeholder": "如：身体好，厨房灯坏了已报修",
  "visit.record": "记录走访",
  "visit.record.row": "记录",
  "visit.recorded": "已记录走访",
  "visit.none": "没有登记为独居老人的住户",
  "visit.state.none": "本月未走访",
  "visit.state.done": "已走访 {time}",
  "visit.state.door": "无人应答 {time}",
  "away.ended": "已记为回家",
  "lang.switch": "English",
  "conn.live": "实时",
  "conn.connecting": "连接中…",
  "conn.disconnected": "连接中断",
  "conn.banner": "与平台的连接已中断，正在重连；恢复后将补齐期间的所有告警。",
  "conn.since": "已中断",
  "sound.enable": "启用声音",
  "sound.mute": "静音 5 分钟",
  "sound.muted": "静音中",
  "sound.unmute": "取消静音",
  "panel.critical": "危急告警",
  "panel.critical.none": "当前没有危急告警",
  "panel.map": "小区平面",
  "panel.queue": "工单队列",
  "panel.health": "设备状态",
  "panel.trends": "趋势",
  "queue.empty": "没有未关闭的工单",
  "queue.new": "{n} 条新工单 · 显示",
  "queue.changed": "队列有变化 · 显示",
  "map.empty": "设备登记表为空",
  "map.legend.ok": "正常",
  "map.roof": "顶",
  "map.legend.offline": "设备离线",
  "health.online": "在线率",
  "health.lowbattery": "低电量",
  "health.unknown": "未上报",
  "health.offline": "离线（按楼栋）",
  "health.none_offline": "全部在线",
  "ops.title": "系统状态",
  "ops.alarms_waiting": "告警滞留在网关：{n} 条，自 {t} 起",
  "ops.worker_stalled": "网关 {g} 自 {t} 起停止处理设备消息",
  "ops.broker_disconnected": "网关 {g} 自 {t} 起与消息服务器断开",
  "ops.gateway_silent": "网关 {g} 自 {t} 起无消息，告警可能无法送达",
  "ops.gateway_problem": "网关 {g} 报告：{d}",
  "ops.database_unreachable": "平台自 {t} 起无法连接数据库，新告警暂无法建单",
  "trends.pressure": "消防立管水压（24 小时）",
  "trends.leakage": "漏电流排行（当前）",
  "trends.none": "暂无数据",
  "trends.threshold": "报警阈值",
  "sla.left": "剩余",
  "sla.over": "已超时",
  "elapsed": "已持续",
  "action.ack": "确认",
  "action.ack_short": "确认",
  "action.dispatch": "派单",
  "action.arrive": "已到场",
  "action.resolve": "已处置",
  "action.false_alarm": "误报",
  "action.comment": "备注",
  "action.note": "处置说明（可选）",
  "action.failed": "操作失败",
  "action.done": "已提交",
  "popup.title": "危急告警",
  "popup.open": "查看详情",
  "popup.seen": "已知晓",
  "popup.more": "另有 {n} 条新危急告警",
  "drawer.close": "关闭",
  "drawer.location": "位置",
  "drawer.household": "住户信息",
  "drawer.elderly": "独居老人",
  "drawer.phone": "联系电话",
  "drawer.household.name": "住户",
  "drawer.household.none": "无权查看或无登记",
  "drawer.timeline": "处置记录",
  "drawer.evidence": "报警依据",
  "drawer.evidence.none": "该告警没有测量数据",
  "drawer.assignee": "责任单位",
  "drawer.notified": "知会单位",
  "drawer.device": "设备",
  "drawer.opened": "发生时间",
  "drawer.due": "处置时限",
  "drawer.escalation": "升级级别",
  "tl.alarm": "告警（第 {n} 次）",
  "tl.clear": "测值恢复正常",
  "tl.routing": "分派给{party}",
  "tl.rule": "规则",
  "tl.escalation": "升级",
  "tl.convert": "升级为{kind}",
  "tl.reassign": "转交{party}",
  "tl.overdue": "超时：{stage}",
  "tl.notify": "通知 {names}",
  "tl.renotify": "再次通知 {names}（第 {n} 次）",
  "tl.unreachable": "未能通知 {names}（无可用渠道）",
  "tl.nobody": "无人值班，未能通知",
  "tl.silenced": "维护窗口 #{id} 内：不通知任何人",
  "tl.message": "{names} · {channel}：{result}",
  "tl.delivery.sent": "已通过{channel}通知 {names}",
  "tl.delivery.failed": "通知失败：{channel}未能送达 {names}",
  "tl.delivery.fallback": "{channel}未能送达 {names}，改用{next}",
  "tl.delivery.pending": "{channel}暂未送达 {names}，{time} 重试",
  "channel.wecom": "企业微信",
  "channel.dingtalk": "钉钉",
  "channel.sms": "短信",
  "channel.email": "邮件",
  "channel.webhook": "Webhook",
  "tl.via_link": "{name}（手机链接）",
  "stage.ack": "确认",
  "stage.on_site": "到场",
  "stage.resolve": "办结",
  "yes": "是",
  "no": "否",
  "sup.list": "超时与升级工单",
  "sup.trend": "处置用时趋势",
  "sup.table": "分项统计",
  "sup.compliance_day": "每日时限达标率（按开单日）",
  "unit.min": "分钟",
  "sup.group": "分组",
  "sup.opened": "工单数",
  "sup.acked": "已确认",
  "sup.resolved": "已办结",
  "sup.breached": "超时",
  "sup.median_ack": "确认用时中位数",
  "sup.median_resolve": "办结用时中位数",
  "sup.overdue": "超时未办结",
  "sup.escalated": "已升级",
  "sup.compliance": "时限达标率",
  "sup.ack_time": "确认用时中位数（分钟，按日）",
  "sup.resolve_time": "办结用时中位数（分钟，按日）",
  "sup.by_party": "按单位",
  "sup.by_kind": "按类型",
  "sup.days": "近 {n} 天",
  "sup.none": "没有超时或升级的工单",
  "sup.privacy": "本页不含个人信息",
  "sev.critical": "危急",
  "sev.major": "严重",
  "sev.minor": "一般",
  "kind.fire": "火警",
  "kind.smoke_alarm": "烟感报警",
  "kind.tamper": "防拆报警",
  "kind.offline_cluster": "成片离线",
  "kind.electrical_leakage": "漏电",
  "kind.cable_overheat": "线缆过热",
  "kind.arc_fault": "故障电弧",
  "kind.overcurrent": "过流",
  "kind.voltage_abnormal": "电压异常",
  "kind.ebike_charging": "电动车违规充电",
  "kind.water_pressure_low": "水压过低",
  "kind.water_pressure_high": "水压过高",
  "kind.water_pressure_drop": "水压骤降",
  "kind.water_leak": "漏水",
  "kind.welfare_check": "独居老人关怀探访",
  "kind.report_fire_exit": "居民反映：消防通道堵塞",
  "kind.report_ebike": "居民反映：电动车违停或入户充电",
  "kind.report_water_leak": "居民反映：漏水",
  "kind.report_facility": "居民反映：照明或电梯故障",
  "kind.report_construction": "居民反映：违章搭建",
  "kind.report_other": "居民反映：其他",
  "kind.device_offline": "设备离线",
  "kind.low_battery": "电量低",
  "kind.sensor_fault": "传感器故障",
  "status.open": "待确认",
  "status.acknowledged": "已确认",
  "status.dispatched": "已派单",
  "status.on_site": "已到场",
  "status.resolved": "已处置",
  "status.false_alarm": "误报",
  "party.property_office": "物业管理处",
  "party.police_room": "社区警务室",
  "party.residents_committee": "居委会",
  "party.owners_committee": "业委会",
  "party.party_committee": "社区党委",
  "party.npc_liaison": "人大代表联络站",
  "party.gateway": "网关",
  "party.system": "系统",
  "loc.building": "{v}栋",
  "loc.unit": "{v}单元",
  "loc.floor": "{v}层",
  "loc.basement": "地下{v}层",
  "loc.roof": "楼顶",
  "dur.d": "{d}天{h}时",
};

const EN = {
  "app.name": "Gongzhi",
  "view.wall": "Alarm wall",
  "view.police": "Police-room console",
  "view.desk": "Alarms and tickets",
  "view.supervision": "Supervision",
  "signin.title": "Sign in with your party's token",
  "signin.token": "Party token",
  "signin.submit": "Sign in",
  "signin.bad": "Token not accepted; please check it",
  "signin.unreachable": "The platform cannot be reached; try again shortly",
  "signin.hint": "The token stays in this browser tab only; closing the tab signs you out.",
  "signout": "Sign out",
  "wall.qr": "Residents' QR codes",
  "away.open": "Absences",
  "away.title": "Absences of elderly people living alone",
  "away.hint": "While a declared absence lasts, the household's welfare alarms make no ticket; press “Back home” if the person returns sooner.",
  "away.hint.read": "Absences declared by the residents' committee (read only).",
  "away.household": "Household",
  "away.pick": "Pick a household…",
  "away.until": "Away until",
  "away.note": "Note",
  "away.note.placeholder": "e.g. at her daughter's, as a neighbour said",
  "away.declare": "Declare absence",
  "away.declare.from_ticket": "Away: declare absence…",
  "away.end": "Back home",
  "away.none": "No absence declared",
  "away.state.away": "Away",
  "away.state.upcoming": "Upcoming",
  "away.state.ended": "Ended",
  "away.held": "{n} alarms held, no ticket",
  "away.declared": "Absence declared",
  "elderly.open": "Elderly alone",
  "elderly.title": "Elderly living alone: visits and absences",
  "away.section": "Absences",
  "visit.title": "Visits this month",
  "visit.count": "{month}: {visited} of {total} households visited",
  "visit.outcome": "Found",
  "visit.outcome.well": "Well",
  "visit.outcome.needs_help": "Needs help",
  "visit.outcome.not_home": "Nobody home",
  "visit.note.placeholder": "e.g. well; the kitchen light is broken, repair reported",
  "visit.record": "Record visit",
  "visit.record.row": "Record",
  "visit.recorded": "Visit recorded",
  "visit.none": "No household is flagged elderly-alone",
  "visit.state.none": "Not visited this month",
  "visit.state.done": "Visited {time}",
  "visit.state.door": "Nobody home {time}",
  "away.ended": "Marked back home",
  "lang.switch": "中文",
  "conn.live": "Live",
  "conn.connecting": "Connecting…",
  "conn.disconnected": "Disconnected",
  "conn.banner": "Connection to the platform lost; reconnecting. Every alarm raised meanwhile "
    + "will be caught up.",
  "conn.since": "down for",
  "sound.enable": "Enable sound",
  "sound.mute": "Mute 5 min",
  "sound.muted": "Muted",
  "sound.unmute": "Unmute",
  "panel.critical": "Critical alarms",
  "panel.critical.none": "No critical alarm",
  "panel.map": "Estate map",
  "panel.queue": "Ticket queue",
  "panel.health": "Device health",
  "panel.trends": "Trends",
  "queue.empty": "No open ticket",
  "queue.new": "{n} new · show",
  "queue.changed": "Queue changed · show",
  "map.empty": "The device registry is empty",
  "map.legend.ok": "Normal",
  "map.roof": "R",
  "map.legend.offline": "Device offline",
  "health.online": "Online",
  "health.lowbattery": "Low battery",
  "health.unknown": "not reported",
  "health.offline": "Offline by building",
  "health.none_offline": "All online",
  "ops.title": "System status",
  "ops.alarms_waiting": "alarms are waiting at the gateway: {n}, since {t}",
  "ops.worker_stalled": "gateway {g} has stopped processing device messages since {t}",
  "ops.broker_disconnected": "gateway {g} is disconnected from the broker since {t}",
  "ops.gateway_silent": "gateway {g} not heard from since {t}: alarms may not arrive",
  "ops.gateway_problem": "gateway {g} says: {d}",
  "ops.database_unreachable": "the platform cannot reach its database since {t}: new alarms "
    + "cannot open tickets",
  "trends.pressure": "Fire-riser pressure (24 h)",
  "trends.leakage": "Top leakage currents (now)",
  "trends.none": "No data yet",
  "trends.threshold": "alarm threshold",
  "sla.left": "left",
  "sla.over": "overdue",
  "elapsed": "for",
  "action.ack": "Acknowledge",
  "action.ack_short": "Ack",
  "action.dispatch": "Dispatch",
  "action.arrive": "Arrived",
  "action.resolve": "Resolved",
  "action.false_alarm": "False alarm",
  "action.comment": "Comment",
  "action.note": "Note (optional)",
  "action.failed": "Action failed",
  "action.done": "Done",
  "popup.title": "Critical alarm",
  "popup.open": "Open ticket",
  "popup.seen": "Seen",
  "popup.more": "{n} more new critical alarms",
  "drawer.close": "Close",
  "drawer.location": "Location",
  "drawer.household": "Household",
  "drawer.elderly": "Elderly living alone",
  "drawer.phone": "Phone",
  "drawer.household.name": "Household",
  "drawer.household.none": "Not registered or not visible to your party",
  "drawer.timeline": "Timeline",
  "drawer.evidence": "Evidence",
  "drawer.evidence.none": "This alarm carries no measurements",
  "drawer.assignee": "Assignee",
  "drawer.notified": "Notified",
  "drawer.device": "Device",
  "drawer.opened": "Opened",
  "drawer.due": "Due",
  "drawer.escalation": "Escalation level",
  "tl.alarm": "Alarm (occurrence {n})",
  "tl.clear": "Values back to normal",
  "tl.routing": "Assigned to {party}",
  "tl.rule": "rule",
  "tl.escalation": "Escalation",
  "tl.convert": "Became {kind}",
  "tl.reassign": "Passed to {party}",
  "tl.overdue": "Overdue: {stage}",
  "tl.notify": "Told {names}",
  "tl.renotify": "Told again: {names} (attempt {n})",
  "tl.unreachable": "Could not tell {names} (no channel)",
  "tl.nobody": "Nobody on duty to tell",
  "tl.silenced": "In maintenance window #{id}: nobody is told",
  "tl.message": "{names} · {channel}: {result}",
  "tl.delivery.sent": "Told {names} by {channel}",
  "tl.delivery.failed": "Not delivered: {channel} could not reach {names}",
  "tl.delivery.fallback": "{channel} could not reach {names}: trying {next}",
  "tl.delivery.pending": "{channel} has not reached {names} yet: retrying at {time}",
  "channel.wecom": "WeCom",
  "channel.dingtalk": "DingTalk",
  "channel.sms": "SMS",
  "channel.email": "email",
  "channel.webhook": "webhook",
  "tl.via_link": "{name} (phone link)",
  "stage.ack": "acknowledge",
  "stage.on_site": "on site",
  "stage.resolve": "resolve",
  "yes": "yes",
  "no": "no",
  "sup.list": "Overdue and escalated tickets",
  "sup.trend": "Handling times",
  "sup.table": "Breakdown",
  "sup.compliance_day": "SLA compliance per day (by opening day)",
  "unit.min": "min",
  "sup.group": "Group",
  "sup.opened": "Tickets",
  "sup.acked": "Acknowledged",
  "sup.resolved": "Resolved",
  "sup.breached": "Overdue",
  "sup.median_ack": "Median time to acknowledge",
  "sup.median_resolve": "Median time to resolve",
  "sup.overdue": "Overdue",
  "sup.escalated": "Escalated",
  "sup.compliance": "SLA compliance",
  "sup.ack_time": "Median time to acknowledge (min, per day)",
  "sup.resolve_time": "Median time to resolve (min, per day)",
  "sup.by_party": "by party",
  "sup.by_kind": "by kind",
  "sup.days": "last {n} days",
  "sup.none": "No overdue or escalated ticket",
  "sup.privacy": "This page holds no personal data",
  "sev.critical": "Critical",
  "sev.major": "Major",
  "sev.minor": "Minor",
  "kind.fire": "Fire",
  "kind.smoke_alarm": "Smoke alarm",
  "kind.tamper": "Tamper",
  "kind.offline_cluster": "Offline cluster",
  "kind.electrical_leakage": "Leakage current",
  "kind.cable_overheat": "Cable overheat",
  "kind.arc_fault": "Arc fault",
  "kind.overcurrent": "Over-current",
  "kind.voltage_abnormal": "Abnormal voltage",
  "kind.ebike_charging": "E-bike charging",
  "kind.water_pressure_low": "Water pressure low",
  "kind.water_pressure_high": "Water pressure high",
  "kind.water_pressure_drop": "Water pressure drop",
  "kind.water_leak": "Water leak",
  "kind.welfare_check": "Welfare check",
  "kind.report_fire_exit": "Report: blocked fire exit",
  "kind.report_ebike": "Report: e-bike in a corridor or charging indoors",
  "kind.report_water_leak": "Report: water leak",
  "kind.report_facility": "Report: broken light or lift",
  "kind.report_construction": "Report: illegal construction",
  "kind.report_other": "Report: other",
  "kind.device_offline": "Device offline",
  "kind.low_battery": "Low battery",
  "kind.sensor_fault": "Sensor fault",
  "status.open": "Open",
  "status.acknowledged": "Acknowledged",
  "status.dispatched": "Dispatched",
  "status.on_site": "On site",
  "status.resolved": "Resolved",
  "status.false_alarm": "False alarm",
  "party.property_office": "Property office",
  "party.police_room": "Police room",
  "party.residents_committee": "Residents' committee",
  "party.owners_committee": "Owners' committee",
  "party.party_committee": "Party committee",
  "party.npc_liaison": "NPC liaison station",
  "party.gateway": "Gateway",
  "party.system": "System",
  "loc.building": "Bldg {v}",
  "loc.unit": "Unit {v}",
  "loc.floor": "Fl {v}",
  "loc.basement": "B{v}",
  "loc.roof": "Roof",
  "dur.d": "{d}d {h}h",
};

const DICTS = { zh: ZH, en: EN };
let lang = readLang();
const listeners = new Set();

function readLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    return saved === "en" ? "en" : "zh";
  } catch {
    return "zh";
  }
}

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  applyStatic(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** Translate ``key``; ``{name}`` placeholders come from ``vars``. Unknown keys show as-is. */
export function t(key, vars = {}) {
  const text = DICTS[lang][key] ?? ZH[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Fill every element carrying data-i18n (text) or data-i18n-placeholder / -title / -label. */
export function applyStatic(root) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export const kindLabel = (kind) => t(`kind.${kind}`);
export const statusLabel = (status) => t(`status.${status}`);
export const severityLabel = (severity) => t(`sev.${severity}`);
export const partyLabel = (party) => t(`party.${party}`);

function part(key, value) {
  if (value === undefined || value === null || value === "") return null;
  const v = String(value);
  if (key === "loc.floor" && /^(roof|rf|top)$/i.test(v)) return t("loc.roof");
  if (key === "loc.floor" && /^(-\d+|B\d+)$/i.test(v)) {
    return t("loc.basement", { v: v.replace(/^(-|B)/i, "") });
  }
  // Ids that are plain numbers read naturally with a suffix ("3栋"); named ones stay as they are.
  return /^\d+$/.test(v) ? t(key, { v }) : v;
}

/** "3栋 2单元 5层 502" / "Bldg 3 · Unit 2 · Fl 5 · 502"; ``depth`` cuts it (e.g. 2: building+unit). */
export function formatLocation(location, depth = 4) {
  if (!location) return "";
  const parts = [
    part("loc.building", location.building),
    part("loc.unit", location.unit),
    part("loc.floor", location.floor),
    location.room || null,
  ].slice(0, depth).filter(Boolean);
  return parts.join(lang === "zh" ? " " : " · ");
}

/** A label for tight spaces: "1栋2单元3层" / "B1-U2-F3". */
export function formatPlaceShort(location) {
  if (!location) return "";
  const zh = lang === "zh";
  const parts = [[location.building, zh ? "栋" : "B"], [location.unit, zh ? "单元" : "U"],
    [location.floor, zh ? "层" : "F"]].filter(([v]) => v !== null && v !== undefined && v !== "");
  return parts.map(([v, mark]) => (zh ? `${v}${mark}` : `${mark}${v}`)).join(zh ? "" : "-");
}

/** 75_000 → "01:15"; 3_725_000 → "1:02:05"; two days → "2天3时". */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  if (days > 0) return t("dur.d", { d: days, h: hours });
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mm = String(minutes).padStart(2, "0");
  const ss = String(seconds).padStart(2, "0");
  return hours > 0 ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "2026-12-09T18:00": the value of a datetime-local input, in the browser's own time zone. */
export function localInputTime(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    + `T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatTime(ms) {
  return new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
    hour12: false, month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}
