"""What a notification says: one ticket (a notice) or many (a digest), in Chinese or English.

Pure text building; every channel renders from these. A digest lists critical tickets first and
always states exact counts per severity; it never cuts a critical ticket in half: what does not
fit stays out of the digest (and is sent in the next message).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SEVERITY_ORDER = ("critical", "major", "minor")

_SEVERITY = {
    "zh": {"critical": "危急", "major": "严重", "minor": "一般"},
    "en": {"critical": "Critical", "major": "Major", "minor": "Minor"},
}
_KIND = {
    "zh": {
        "fire": "火警", "smoke_alarm": "烟感报警", "tamper": "防拆报警",
        "offline_cluster": "成片离线", "electrical_leakage": "漏电", "cable_overheat": "线缆过热",
        "arc_fault": "故障电弧", "overcurrent": "过流", "voltage_abnormal": "电压异常",
        "ebike_charging": "电动车违规充电", "water_pressure_low": "水压过低",
        "water_pressure_high": "水压过高", "water_pressure_drop": "水压骤降",
        "device_offline": "设备离线", "low_battery": "电量低", "sensor_fault": "传感器故障",
        "water_leak": "漏水", "welfare_check": "独居老人关怀探访",
        "report_fire_exit": "居民反映：消防通道堵塞",
        "report_ebike": "居民反映：电动车违停或入户充电",
        "report_water_leak": "居民反映：漏水", "report_facility": "居民反映：照明或电梯故障",
        "report_construction": "居民反映：违章搭建", "report_other": "居民反映：其他",
    },
    "en": {
        "fire": "Fire", "smoke_alarm": "Smoke alarm", "tamper": "Tamper",
        "offline_cluster": "Offline cluster", "electrical_leakage": "Leakage current",
        "cable_overheat": "Cable overheat", "arc_fault": "Arc fault",
        "overcurrent": "Over-current", "voltage_abnormal": "Abnormal voltage",
        "ebike_charging": "E-bike charging", "water_pressure_low": "Water pressure low",
        "water_pressure_high": "Water pressure high", "water_pressure_drop": "Water pressure drop",
        "device_offline": "Device offline", "low_battery": "Low battery",
        "sensor_fault": "Sensor fault", "water_leak": "Water leak",
        "welfare_check": "Welfare check",
        "report_fire_exit": "Report: blocked fire exit",
        "report_ebike": "Report: e-bike in a corridor or charging indoors",
        "report_water_leak": "Report: water leak",
        "report_facility": "Report: broken light or lift",
        "report_construction": "Report: illegal construction", "report_other": "Report: other",
    },
}
_EVENT = {
    "zh": {"opened": "新告警", "escalated": "已升级", "reminder": "再次提醒", "changed": "已变更"},
    "en": {"opened": "New alarm", "escalated": "Escalated", "reminder": "Reminder",
           "changed": "Changed"},
}
_STAGE = {
    "zh": {"ack": "确认", "on_site": "到场", "resolve": "处置"},
    "en": {"ack": "Acknowledge", "on_site": "On site", "resolve": "Resolve"},
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One ticket as a notification tells it. ``due_at`` is the next SLA deadline (epoch ms) of
    ``stage``; the time left is worked out when the message is sent."""

    ticket_id: int
    kind: str
    severity: str
    place: str
    event: str = "opened"
    stage: str | None = None
    due_at: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"ticket_id": self.ticket_id, "kind": self.kind, "severity": self.severity,
                "place": self.place, "event": self.event, "stage": self.stage,
                "due_at": self.due_at}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Notice:
        due = d.get("due_at")
        stage = d.get("stage")
        return cls(int(str(d["ticket_id"])), str(d["kind"]), str(d["severity"]),
                   str(d["place"]), str(d.get("event", "opened")),
                   None if stage is None else str(stage),
                   None if due is None else int(str(due)))


def language_of(value: str) -> str:
    return "en" if value.lower().startswith("en") else "zh"


def severity_label(severity: str, language: str) -> str:
    return _SEVERITY[language_of(language)].get(severity, severity)


def kind_label(kind: str, language: str) -> str:
    return _KIND[language_of(language)].get(kind, kind)


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def sla_left(notice: Notice, now: int, language: str) -> str:
    """``剩余 4分30秒`` / ``4 min 30 s left``, ``已超时 2分`` / ``overdue by 2 min``, or ``—``."""
    zh = language_of(language) == "zh"
    if notice.due_at is None:
        return "无时限" if zh else "no deadline"
    left = notice.due_at - now
    seconds = abs(left) // 1000
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if zh:
        span = (f"{hours}小时" if hours else "") + (f"{minutes}分" if minutes else "") + (
            f"{secs}秒" if secs or not (hours or minutes) else "")
        return f"剩余 {span}" if left >= 0 else f"已超时 {span}"
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else []) + (
        [f"{secs} s"] if secs or not (hours or minutes) else [])
    span = " ".join(parts)
    return f"{span} left" if left >= 0 else f"overdue by {span}"


def _deadline_line(notice: Notice, now: int, language: str) -> str:
    lang = language_of(language)
    stage = _STAGE[lang].get(notice.stage or "ack", notice.stage or "")
    if lang == "zh":
        return f"{stage}时限：{sla_left(notice, now, lang)}"
    return f"{stage} deadline: {sla_left(notice, now, lang)}"


def title(notice: Notice, language: str) -> str:
    lang = language_of(language)
    sev, kind = severity_label(notice.severity, lang), kind_label(notice.kind, lang)
    event = _EVENT[lang].get(notice.event, notice.event)
    if lang == "zh":
        return f"【共治·{sev}】{kind}（{event}）"
    return f"[Gongzhi · {sev}] {kind} ({event})"


def text(notice: Notice, link: str, now: int, language: str) -> str:
    """The plain-text form (WeCom/DingTalk/Feishu text, e-mail body)."""
    lang = language_of(language)
    place = ("地点：" if lang == "zh" else "Place: ") + notice.place
    ticket = (f"工单 #{notice.ticket_id}：" if lang == "zh"
              else f"Ticket #{notice.ticket_id}: ") + link
    return "\n".join([title(notice, lang), place, _deadline_line(notice, now, lang), ticket])


def markdown(notice: Notice, link: str, now: int, language: str) -> str:
    lang = language_of(language)
    open_label = "打开工单" if lang == "zh" else "Open ticket"
    return "\n".join([
        f"### {title(notice, lang)}",
        f"> {'地点' if lang == 'zh' else 'Place'}：{notice.place}" if lang == "zh"
        else f"> Place: {notice.place}",
        f"> {_deadline_line(notice, now, lang)}",
        f"> [{open_label} #{notice.ticket_id}]({link})",
    ])


def utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest's text and which notices it carries (in the order listed or counted)."""

    text: str
    included: tuple[int, ...]  # indexes into the notices given to ``digest``
    counts: dict[str, int]


def digest(notices: Sequence[Notice], links: Callable[[int], str], now: int, language: str,
           max_bytes: int, *, markdown_form: bool = False) -> Digest:
    """One message for many notices: counts per severity (exact, of what it carries), then one
    line per ticket, critical first. Every critical ticket it carries is listed with its link;
    a critical ticket that does not fit is left out (counts then exclude it). Major and minor
    tickets that do not fit as a line are carried in the counts alone."""
    lang = language_of(language)
    order = sorted(range(len(notices)),
                   key=lambda i: (severity_rank(notices[i].severity), notices[i].ticket_id))

    def line(n: Notice) -> str:
        item = (f"#{n.ticket_id} {kind_label(n.kind, lang)} · {n.place} · "
                f"{sla_left(n, now, lang)} · {links(n.ticket_id)}")
        return f"- {item}" if markdown_form else item

    def header(counts: Counter[str]) -> str:
        total = sum(counts.values())
        parts = [f"{severity_label(s, lang)} {counts[s]}" for s in SEVERITY_ORDER if counts[s]]
        if lang == "zh":
            head = f"【共治·告警汇总】共 {total} 条（{'，'.join(parts)}）"
        else:
            head = f"[Gongzhi · digest] {total} alarms ({', '.join(parts)})"
        return f"### {head}" if markdown_form else head

    def more(hidden: int) -> str:
        return (f"另有 {hidden} 条未逐条列出，请在平台查看" if lang == "zh"
                else f"{hidden} more not listed one by one: see the platform")

    budget = max_bytes - 200  # room for the header and the "more" line
    critical = [i for i in order if notices[i].severity == "critical"]
    others = [i for i in order if notices[i].severity != "critical"]
    listed: list[int] = []
    used = 0
    for i in critical:
        cost = utf8_len(line(notices[i])) + 1
        if used + cost > budget:
            break
        listed.append(i)
        used += cost
    carried_critical = list(listed)
    if len(carried_critical) < len(critical):
        carried_others: list[int] = []  # criticals wait: the next message carries them first
    else:
        carried_others = list(others)
        for i in others:
            cost = utf8_len(line(notices[i])) + 1
            if used + cost > budget:
                break
            listed.append(i)
            used += cost
    carried = carried_critical + carried_others
    counts = Counter(notices[i].severity for i in carried)
    lines = [header(counts), *(line(notices[i]) for i in listed)]
    hidden = len(carried) - len(listed)
    if hidden:
        lines.append(more(hidden))
    return Digest("\n".join(lines), tuple(carried), dict(counts))
