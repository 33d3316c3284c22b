"""The routing engine: an alarm, its device's registry record and the history it needs → a
decision naming the party, the notified parties, the SLA and the rules that made it. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gongzhi.core.alarms import Alarm
from gongzhi.devices.registry import DeviceRecord
from gongzhi.hub.duty_model import DutyMatrix, HistoryQuery, Match, Route, Scope, Severity, Sla


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """What routing looks at, whether it comes from an alarm or from a ticket being converted."""

    kind: str
    device_id: str
    estate_id: str
    building: str | None
    elderly_alone: bool
    household: str | None
    riser: str | None
    ts_ms: int

    @classmethod
    def of(cls, alarm: Alarm, device: DeviceRecord | None) -> AlarmFacts:
        return cls(
            kind=alarm.kind.value,
            device_id=alarm.device_id,
            estate_id=device.location.estate_id if device else alarm.estate_id,
            building=(device.location.building if device else None) or alarm.building,
            elderly_alone=bool(device and device.elderly_alone),
            household=device.household if device else None,
            riser=device.riser if device else None,
            ts_ms=alarm.ts_ms,
        )

    def scope_key(self, scope: Scope) -> str | None:
        """The key a history count groups by; None when the registry does not say."""
        if scope is Scope.HOUSEHOLD:
            return self.household
        if scope is Scope.RISER:
            return self.riser
        if scope is Scope.DEVICE:
            return self.device_id
        return self.building


History = Mapping[HistoryQuery, int]


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str
    severity: Severity
    assignee: str
    notified: tuple[str, ...]
    sla: Sla
    chain: tuple[str, ...]
    route_id: str
    rule_ids: tuple[str, ...]  # the route, then every also_notify rule that added a party

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity.value,
            "assignee": self.assignee,
            "notified": list(self.notified),
            "sla": {"ack_ms": self.sla.ack_ms, "on_site_ms": self.sla.on_site_ms,
                    "resolve_ms": self.sla.resolve_ms},
            "chain": list(self.chain),
            "rule_id": self.route_id,
            "rule_ids": list(self.rule_ids),
        }


def local_minute(ts_ms: int, timezone: str) -> int:
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone))
    return moment.hour * 60 + moment.minute


def matches(match: Match, facts: AlarmFacts, history: History, *, timezone: str,
            severity: Severity | None = None) -> bool:
    if match.kinds is not None and facts.kind not in match.kinds:
        return False
    if match.severities is not None and (severity is None or severity.value
                                         not in match.severities):
        return False
    if match.estates is not None and facts.estate_id not in match.estates:
        return False
    if match.buildings is not None and facts.building not in match.buildings:
        return False
    if match.elderly_alone is not None and facts.elderly_alone != match.elderly_alone:
        return False
    if match.hours is not None and not match.hours.contains(local_minute(facts.ts_ms, timezone)):
        return False
    if match.history is not None:
        if facts.scope_key(match.history.query.scope) is None:
            return False
        if history.get(match.history.query, 0) < match.history.at_least:
            return False
    return True


def first_route(matrix: DutyMatrix, facts: AlarmFacts, history: History) -> Route:
    for candidate in matrix.routes:
        if matches(candidate.match, facts, history, timezone=matrix.timezone):
            return candidate
    # parse_matrix guarantees an unconditional route per kind.
    raise LookupError(f"no route for kind {facts.kind!r}")


def route(matrix: DutyMatrix, facts: AlarmFacts, history: History) -> Decision:
    chosen = first_route(matrix, facts, history)
    notified = list(chosen.notify)
    rule_ids = [chosen.id]
    for rule in matrix.notify_rules:
        if matches(rule.match, facts, history, timezone=matrix.timezone,
                   severity=chosen.severity):
            rule_ids.append(rule.id)
            notified.extend(rule.notify)
    return Decision(
        kind=facts.kind,
        severity=chosen.severity,
        assignee=chosen.assignee,
        notified=tuple(p for p in dict.fromkeys(notified) if p != chosen.assignee),
        sla=chosen.sla,
        chain=chosen.chain,
        route_id=chosen.id,
        rule_ids=tuple(rule_ids),
    )


def route_alarm(matrix: DutyMatrix, alarm: Alarm, device: DeviceRecord | None,
                history: History) -> Decision:
    return route(matrix, AlarmFacts.of(alarm, device), history)
