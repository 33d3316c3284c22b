"""What a resident can report, and the ticket kind each category opens (pure)."""

from __future__ import annotations

from enum import StrEnum

from gongzhi.core.alarms import AlarmKind


class Category(StrEnum):
    FIRE_EXIT = "fire_exit"  # a blocked fire exit or stairway
    EBIKE = "ebike"  # an e-bike in a corridor, or charging indoors
    WATER_LEAK = "water_leak"
    FACILITY = "facility"  # a broken light or lift
    CONSTRUCTION = "construction"  # illegal construction
    OTHER = "other"


KIND_OF: dict[Category, AlarmKind] = {
    Category.FIRE_EXIT: AlarmKind.REPORT_FIRE_EXIT,
    Category.EBIKE: AlarmKind.REPORT_EBIKE,
    Category.WATER_LEAK: AlarmKind.REPORT_WATER_LEAK,
    Category.FACILITY: AlarmKind.REPORT_FACILITY,
    Category.CONSTRUCTION: AlarmKind.REPORT_CONSTRUCTION,
    Category.OTHER: AlarmKind.REPORT_OTHER,
}

REPORT_KINDS: frozenset[str] = frozenset(k.value for k in KIND_OF.values())

LABELS: dict[str, dict[Category, str]] = {
    "zh": {Category.FIRE_EXIT: "消防通道堵塞", Category.EBIKE: "电动车违停楼道或入户充电",
           Category.WATER_LEAK: "漏水", Category.FACILITY: "照明或电梯故障",
           Category.CONSTRUCTION: "违章搭建", Category.OTHER: "其他"},
    "en": {Category.FIRE_EXIT: "Blocked fire exit",
           Category.EBIKE: "E-bike in a corridor or charging indoors",
           Category.WATER_LEAK: "Water leak", Category.FACILITY: "Broken light or lift",
           Category.CONSTRUCTION: "Illegal construction", Category.OTHER: "Other"},
}


def is_report(kind: str) -> bool:
    return kind in REPORT_KINDS


def category_of(kind: str) -> Category | None:
    return next((c for c, k in KIND_OF.items() if k.value == kind), None)
