"""The duty matrix as data: which party a ticket goes to, who else hears of it, its SLA and
escalation. Frozen records, no parsing (``duty_parse`` reads them from YAML).

``routes`` are tried in order and the first match sets the ticket's severity, assignee, notified
parties, SLA and escalation chain; every matching ``also_notify`` rule then adds parties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gongzhi.core.alarms import AlarmKind

KINDS: frozenset[str] = frozenset(k.value for k in AlarmKind)


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class Scope(StrEnum):
    """What a history condition counts over."""

    HOUSEHOLD = "household"
    RISER = "riser"
    DEVICE = "device"
    BUILDING = "building"


class Counted(StrEnum):
    ALARMS = "alarms"  # distinct alarms (events)
    TICKETS = "tickets"  # tickets opened


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A count the routing engine needs: the store answers it, the engine compares."""

    scope: Scope
    counted: Counted
    kinds: frozenset[str]
    within_ms: int


@dataclass(frozen=True, slots=True)
class HistoryCondition:
    query: HistoryQuery
    at_least: int


@dataclass(frozen=True, slots=True)
class HoursWindow:
    """Local time of day, minutes after midnight; ``start > end`` wraps past midnight."""

    start_min: int
    end_min: int

    def contains(self, minute_of_day: int) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


@dataclass(frozen=True, slots=True)
class Match:
    kinds: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    estates: frozenset[str] | None = None
    buildings: frozenset[str] | None = None
    elderly_alone: bool | None = None
    hours: HoursWindow | None = None
    history: HistoryCondition | None = None

    @property
    def unconditional(self) -> bool:
        """Matches every alarm of its kinds."""
        return (self.severities is None and self.estates is None and self.buildings is None
                and self.elderly_alone is None and self.hours is None and self.history is None)


@dataclass(frozen=True, slots=True)
class Sla:
    ack_ms: int | None = None
    on_site_ms: int | None = None
    resolve_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """An unacknowledged ticket becomes ``to_kind`` after ``after_ms`` (smoke → fire)."""

    to_kind: str
    after_ms: int


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    match: Match
    severity: Severity
    assignee: str
    notify: tuple[str, ...]
    sla: Sla
    chain: tuple[str, ...]  # escalation order; starts with the assignee
    convert: Conversion | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class NotifyRule:
    id: str
    match: Match
    notify: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class OverduePolicy:
    """Who hears of a ticket past a deadline, for which severities."""

    notify: tuple[str, ...] = ()
    severities: frozenset[str] = frozenset()
    rule_id: str = "overdue"


@dataclass(frozen=True, slots=True)
class Webhook:
    party: str
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DutyMatrix:
    routes: tuple[Route, ...]
    notify_rules: tuple[NotifyRule, ...]
    overdue: OverduePolicy
    timezone: str = "Asia/Shanghai"
    webhooks: tuple[Webhook, ...] = ()
    source: str = "<matrix>"

    def history_queries(self) -> frozenset[HistoryQuery]:
        matches = [r.match for r in self.routes] + [r.match for r in self.notify_rules]
        return frozenset(m.history.query for m in matches if m.history is not None)

    def route_by_id(self, route_id: str) -> Route | None:
        return next((r for r in self.routes if r.id == route_id), None)

    def webhook_for(self, party: str) -> Webhook | None:
        return next((w for w in self.webhooks if w.party == party), None)


def matrix_summary(matrix: DutyMatrix) -> Mapping[str, str]:
    """Kind → the id of its unconditional route (for docs and checks)."""
    return {k: r.id for r in reversed(matrix.routes) if r.match.unconditional
            for k in sorted(r.match.kinds or ())}
