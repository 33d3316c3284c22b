"""The duty matrix: its records (``duty_model``) and how it is read (``duty_parse``), under the
one name the rest of the hub imports."""

from __future__ import annotations

from gongzhi.hub.duty_model import (
    KINDS,
    Conversion,
    Counted,
    DutyMatrix,
    HistoryCondition,
    HistoryQuery,
    HoursWindow,
    Match,
    NotifyRule,
    OverduePolicy,
    Route,
    Scope,
    Severity,
    Sla,
    Webhook,
    matrix_summary,
)
from gongzhi.hub.duty_parse import DEFAULT_MATRIX, MatrixFile, load_matrix, parse_matrix

__all__ = [
    "DEFAULT_MATRIX",
    "KINDS",
    "Conversion",
    "Counted",
    "DutyMatrix",
    "HistoryCondition",
    "HistoryQuery",
    "HoursWindow",
    "Match",
    "MatrixFile",
    "NotifyRule",
    "OverduePolicy",
    "Route",
    "Scope",
    "Severity",
    "Sla",
    "Webhook",
    "load_matrix",
    "matrix_summary",
    "parse_matrix",
]
