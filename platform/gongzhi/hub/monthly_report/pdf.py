"""The monthly report as a PDF (fpdf2): a page of key figures, then bar charts drawn with
fpdf2's own rectangles (alarms by kind and by building, SLA met per party, escalations, residents'
reports and satisfaction) and the open items. Only ``MonthFigures`` goes in: no personal data can.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

from gongzhi.hub.monthly_report.figures import MonthFigures
from gongzhi.hub.monthly_report.fonts import MISSING, find_cjk_font
from gongzhi.hub.monthly_report.period import local_date
from gongzhi.hub.notify.message import kind_label as notice_kind_label

log = logging.getLogger(__name__)

PARTIES = {
    "zh": {"property_office": "物业管理处", "police_room": "社区警务室",
           "residents_committee": "居委会", "owners_committee": "业委会",
           "party_committee": "社区党委", "npc_liaison": "人大代表联络站"},
    "en": {"property_office": "Property office", "police_room": "Police room",
           "residents_committee": "Residents' committee", "owners_committee": "Owners' committee",
           "party_committee": "Party committee", "npc_liaison": "NPC liaison station"},
}
CATEGORIES = {
    "zh": {"fire_exit": "消防通道堵塞", "ebike": "电动车违停或入户充电", "water_leak": "漏水",
           "facility": "照明或电梯故障", "construction": "违章搭建", "other": "其他"},
    "en": {"fire_exit": "Blocked fire exit", "ebike": "E-bike in corridor / indoors",
           "water_leak": "Water leak", "facility": "Broken light or lift",
           "construction": "Illegal construction", "other": "Other"},
}
WORDS = {
    "zh": {
        "title": "{estate} 小区 {month} 月度安全与共治报告",
        "sub": "联合支部会议材料 · 不含个人信息",
        "generated": "生成时间 {at}（{tz}）", "alarms": "告警", "reports": "居民反映",
        "sla": "时限达标率", "escalated": "升级", "welfare": "关怀探访",
        "open": "未办结", "overdue": "其中超时", "rating": "居民满意度",
        "by_kind": "告警（按类型）", "by_building": "告警（按楼栋）",
        "sla_party": "各单位时限达标率（达标/已判定）", "esc_party": "升级工单（按责任单位）",
        "rep_cat": "居民反映（按类型）", "rep_party": "居民反映处置与满意度（按单位）",
        "stars": "满意度分布（星级）", "open_items": "未办结事项",
        "col_id": "工单", "col_kind": "类型", "col_building": "楼栋", "col_party": "责任单位",
        "col_opened": "发生", "col_state": "状态", "overdue_flag": "超时",
        "escalated_flag": "已升级",
        "in_time": "时限内", "none": "本月无", "welfare_note": "仅计次数；探访对象与地点不列出。",
        "visits": "例行走访：本月 {visited}/{homes} 家已走访（共 {n} 次，其中需要帮助 {help} "
                  "次）。",
        "party_line": "{n} 件，中位响应 {ack}，中位办结 {res}，评价 {r} 次{mean}",
        "mean": "，平均 {m} 星", "more": "另有 {n} 项未列出", "building": "{b} 栋",
        "nodata": "—",
    },
    "en": {
        "title": "{estate}: safety and co-governance report, {month}",
        "sub": "For the joint branch meeting · no personal data",
        "generated": "Generated {at} ({tz})", "alarms": "Alarms", "reports": "Residents' reports",
        "sla": "SLA met", "escalated": "Escalated", "welfare": "Welfare checks",
        "open": "Open items", "overdue": "overdue", "rating": "Satisfaction",
        "by_kind": "Alarms by kind", "by_building": "Alarms by building",
        "sla_party": "SLA met per party (met / decided)",
        "esc_party": "Escalated tickets per party",
        "rep_cat": "Residents' reports by category",
        "rep_party": "Residents' reports handled and rated, per party",
        "stars": "Satisfaction (stars)", "open_items": "Open items",
        "col_id": "Ticket", "col_kind": "Kind", "col_building": "Building", "col_party": "Party",
        "col_opened": "Opened", "col_state": "State", "overdue_flag": "overdue",
        "escalated_flag": "escalated", "in_time": "in time", "none": "none this month",
        "welfare_note": "Counted only; who was visited and where is not listed.",
        "visits": "Routine visits: {visited} of {homes} homes visited this month ({n} visits, "
                  "{help} needing help).",
        "party_line": "{n} reports, median response {ack}, median resolution {res}, {r} ratings"
                      "{mean}",
        "mean": ", mean {m} stars", "more": "{n} more not listed", "building": "bldg {b}",
        "nodata": "—",
    },
}
# The welfare check is named for what it is (a visit), not for whom: the report carries no
# household flag.
OWN_KINDS = {"zh": {"welfare_check": "关怀探访"}, "en": {"welfare_check": "Welfare check"}}
LATIN = "helvetica"
INK = (30, 41, 59)
MUTED = (100, 116, 139)
BAR = (47, 123, 255)
GOOD = (47, 191, 113)
WARN = (255, 168, 38)
BAD = (230, 57, 70)
TRACK = (226, 232, 240)


def kind_label(kind: str, lang: str) -> str:
    return OWN_KINDS[lang].get(kind) or notice_kind_label(kind, lang)


def _duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return WORDS[lang]["nodata"]
    if seconds < 3600:
        return f"{seconds / 60:.0f} min" if lang == "en" else f"{seconds / 60:.0f} 分钟"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h" if lang == "en" else f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86_400:.1f} d" if lang == "en" else f"{seconds / 86_400:.1f} 天"


class _Report(FPDF):
    def __init__(self, lang: str, family: str, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.lang = lang
        self.family = family
        self.footer_text = footer_text
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def normalize_text(self, text: str) -> str:
        """With the Latin fallback font, what it lacks becomes its nearest Latin-1 spelling
        (or "?": a Chinese estate name)."""
        if self.family == LATIN:
            text = text.replace("—", "-").replace("…", "...").replace("★", "*")
            text = text.encode("latin-1", "replace").decode("latin-1")
        return super().normalize_text(text)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}", align="C")


def render_pdf(figures: MonthFigures, output: Path, *, lang: str = "zh",
               font: Path | None = None) -> Path:
    """Write the report; returns ``output``. Without a CJK font the report is written in
    English with a Latin font, and a warning says why."""
    data = pdf_bytes(figures, lang=lang, font=font)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    return output


def pdf_bytes(figures: MonthFigures, *, lang: str = "zh", font: Path | None = None) -> bytes:
    """The report as PDF bytes (see ``render_pdf``)."""
    font_file = find_cjk_font(font)
    if font_file is None:
        log.warning(MISSING)
        lang, family = "en", LATIN
    else:
        family = "cjk"
    words = WORDS[lang]
    pdf = _Report(lang, family, words["sub"])
    if font_file is not None:
        pdf.add_font(family, fname=str(font_file))
    pdf.set_title(words["title"].format(estate=figures.estate_id, month=figures.month.label))
    pdf.set_creator("Gongzhi")
    pdf.add_page()
    _header(pdf, figures, words)
    _kpis(pdf, figures, words)
    kinds = [(kind_label(k, lang), n) for k, n in figures.alarms_by_kind]
    _bars(pdf, words["by_kind"], kinds, words)
    _bars(pdf, words["by_building"],
          [(words["building"].format(b=b), n) for b, n in figures.alarms_by_building], words,
          limit=30)
    _sla(pdf, figures, words)
    _bars(pdf, words["esc_party"],
          [(PARTIES[lang].get(p, p), n) for p, n in figures.escalated_by_party], words,
          color=WARN)
    _bars(pdf, words["rep_cat"],
          [(CATEGORIES[lang].get(c, c), n) for c, n in figures.reports_by_category], words)
    _report_parties(pdf, figures, words)
    _bars(pdf, words["stars"], [("★" * n, count)
                                for n, count in zip(range(1, 6), figures.ratings, strict=True)],
          words, color=GOOD, keep_zero=True)
    _welfare(pdf, figures, words)
    _open_items(pdf, figures, words)
    return bytes(pdf.output())


def _heading(pdf: _Report, text: str) -> None:
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(pdf.family, size=12)
    pdf.set_text_color(*INK)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*TRACK)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)


def _header(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    pdf.set_font(pdf.family, size=17)
    pdf.set_text_color(*INK)
    pdf.multi_cell(0, 9, words["title"].format(estate=figures.estate_id,
                                               month=figures.month.label),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, size=9)
    pdf.set_text_color(*MUTED)
    at = local_date(figures.generated_at, figures.month.timezone)
    pdf.cell(0, 5, f"{words['sub']} · "
             + words["generated"].format(at=at, tz=figures.month.timezone),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _kpis(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    decided = sum(p.sla_decided for p in figures.sla_by_party)
    met = sum(p.sla_met for p in figures.sla_by_party)
    boxes = [
        (words["alarms"], str(figures.alarms)),
        (words["reports"], str(figures.reports)),
        (words["sla"], f"{100 * met / decided:.0f}%" if decided else words["nodata"]),
        (words["escalated"], str(figures.escalated)),
        (words["welfare"], str(figures.welfare_checks)),
        (words["open"], f"{figures.open_items} ({words['overdue']} {figures.open_overdue})"),
        (words["rating"], f"{figures.rating_mean:.1f} / 5" if figures.rating_mean is not None
         else words["nodata"]),
    ]
    width = (pdf.w - pdf.l_margin - pdf.r_margin - 3 * 3) / 4
    top = pdf.get_y()
    for index, (label, value) in enumerate(boxes):
        x = pdf.l_margin + (index % 4) * (width + 3)
        y = top + (index // 4) * 21
        pdf.set_fill_color(241, 245, 249)
        pdf.rect(x, y, width, 18, style="F")
        pdf.set_xy(x + 2, y + 2)
        pdf.set_font(pdf.family, size=8)
        pdf.set_text_color(*MUTED)
        pdf.cell(width - 4, 4, label)
        pdf.set_xy(x + 2, y + 8)
        pdf.set_font(pdf.family, size=13)
        pdf.set_text_color(*INK)
        pdf.cell(width - 4, 7, value)
    pdf.set_xy(pdf.l_margin, top + 2 * 21 + 2)


def _bars(pdf: _Report, title: str, rows: Sequence[tuple[str, int]], words: dict[str, str], *,
          color: tuple[int, int, int] = BAR, keep_zero: bool = False, limit: int = 14) -> None:
    """A horizontal bar chart: one labelled bar per row, scaled to the largest."""
    _heading(pdf, title)
    shown = [(label, n) for label, n in rows if n or keep_zero][:limit]
    if not shown:
        pdf.set_font(pdf.family, size=9)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 6, words["none"], new_x="LMARGIN", new_y="NEXT")
        return
    largest = max(n for _, n in shown) or 1
    label_w = 52
    track_w = pdf.w - pdf.l_margin - pdf.r_margin - label_w - 16
    pdf.set_font(pdf.family, size=8.5)
    for label, n in shown:
        if pdf.get_y() > pdf.h - 25:
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_text_color(*INK)
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w - 2, 5.5, _fit(pdf, label, label_w - 3))
        pdf.set_fill_color(*TRACK)
        pdf.rect(pdf.l_margin + label_w, y + 1, track_w, 3.5, style="F")
        if n:
            pdf.set_fill_color(*color)
            pdf.rect(pdf.l_margin + label_w, y + 1, max(0.8, track_w * n / largest), 3.5,
                     style="F")
        pdf.set_xy(pdf.l_margin + label_w + track_w + 2, y)
        pdf.cell(14, 5.5, str(n))
        pdf.set_xy(pdf.l_margin, y + 6)
    pdf.ln(1)


def _fit(pdf: _Report, text: str, width: float) -> str:
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _sla(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    """One bar per party: the share of decided tickets that met their deadlines, coloured by
    how far from the goal it is."""
    _heading(pdf, words["sla_party"])
    parties = [p for p in figures.sla_by_party if p.sla_decided]
    if not parties:
        pdf.set_font(pdf.family, size=9)
        pdf.cell(0, 6, words["none"], new_x="LMARGIN", new_y="NEXT")
        return
    label_w = 52
    track_w = pdf.w - pdf.l_margin - pdf.r_margin - label_w - 30
    pdf.set_font(pdf.family, size=8.5)
    for party in parties:
        share = party.sla_met / party.sla_decided
        y = pdf.get_y()
        pdf.set_text_color(*INK)
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w - 2, 5.5, PARTIES[pdf.lang].get(party.party, party.party))
        pdf.set_fill_color(*TRACK)
        pdf.rect(pdf.l_margin + label_w, y + 1, track_w, 3.5, style="F")
        pdf.set_fill_color(*(GOOD if share >= 0.9 else WARN if share >= 0.7 else BAD))
        pdf.rect(pdf.l_margin + label_w, y + 1, max(0.8, track_w * share), 3.5, style="F")
        pdf.set_xy(pdf.l_margin + label_w + track_w + 2, y)
        pdf.cell(28, 5.5, f"{100 * share:.0f}% ({party.sla_met}/{party.sla_decided})")
        pdf.set_xy(pdf.l_margin, y + 6)


def _report_parties(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    _heading(pdf, words["rep_party"])
    pdf.set_font(pdf.family, size=9)
    if not figures.reports_by_party:
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 6, words["none"], new_x="LMARGIN", new_y="NEXT")
        return
    for party in figures.reports_by_party:
        pdf.set_text_color(*INK)
        mean = words["mean"].format(m=f"{party.rating_mean:.1f}") \
            if party.rating_mean is not None else ""
        line = words["party_line"].format(
            n=party.reports, ack=_duration(party.ack_median_s, pdf.lang),
            res=_duration(party.resolve_median_s, pdf.lang), r=party.ratings, mean=mean)
        pdf.multi_cell(0, 5.5, f"{PARTIES[pdf.lang].get(party.party, party.party)}: {line}",
                       new_x="LMARGIN", new_y="NEXT")


def _welfare(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    _heading(pdf, words["welfare"])
    pdf.set_font(pdf.family, size=9)
    pdf.set_text_color(*INK)
    pdf.multi_cell(0, 5.5, f"{figures.welfare_checks} · {words['welfare_note']}",
                   new_x="LMARGIN", new_y="NEXT")
    if figures.visits is not None:
        made = figures.visits
        pdf.multi_cell(0, 5.5, words["visits"].format(visited=made.visited, homes=made.homes,
                                                      n=made.visits, help=made.needs_help),
                       new_x="LMARGIN", new_y="NEXT")


def _open_items(pdf: _Report, figures: MonthFigures, words: dict[str, str]) -> None:
    _heading(pdf, f"{words['open_items']} ({figures.open_items})")
    if not figures.open_listed:
        pdf.set_font(pdf.family, size=9)
        pdf.cell(0, 6, words["none"], new_x="LMARGIN", new_y="NEXT")
        return
    widths = (18, 62, 20, 36, 22, 22)
    head = (words["col_id"], words["col_kind"], words["col_building"], words["col_party"],
            words["col_opened"], words["col_state"])
    pdf.set_font(pdf.family, size=8)
    pdf.set_text_color(*MUTED)
    for width, text in zip(widths, head, strict=True):
        pdf.cell(width, 5, text)
    pdf.ln(5)
    pdf.set_text_color(*INK)
    for item in figures.open_listed:
        if pdf.get_y() > pdf.h - 25:
            pdf.add_page()
        state = words["escalated_flag"] if item.escalation_level else (
            words["overdue_flag"] if item.overdue else words["in_time"])
        cells = (f"#{item.ticket_id}", kind_label(item.kind, pdf.lang),
                 item.building or words["nodata"], PARTIES[pdf.lang].get(item.assignee,
                                                                         item.assignee),
                 local_date(item.opened, figures.month.timezone)[5:], state)
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 5, _fit(pdf, text, width - 1))
        pdf.ln(5)
    if figures.open_items > len(figures.open_listed):
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 5, words["more"].format(n=figures.open_items - len(figures.open_listed)),
                 new_x="LMARGIN", new_y="NEXT")
