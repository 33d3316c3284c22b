"""The duty matrix: which party a ticket goes to, who else hears of it, its SLA and escalation.

A data file (YAML) read into frozen rules. ``routes`` are tried in order and the first match sets
the ticket's severity, assignee, notified parties, SLA and escalation chain; every matching
``also_notify`` rule then adds parties. Every error names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.errors import ConfigError
from gongzhi.hub.parties import PARTY_IDS, SUPERVISORS

KINDS: frozenset[str] = frozenset(k.value for k in AlarmKind)
DEFAULT_MATRIX = "duty_matrix.yaml"


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


# --- YAML with line numbers -------------------------------------------------------------------


class _Map(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise ConfigError(f"key {key!r} must be text", source=f"{loader.name}:{line}")
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", source=f"{loader.name}:{line}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class _Reader:
    """Reads one mapping, naming the file and line in every error."""

    source: str
    data: _Map

    def fail(self, key: str | None, message: str) -> ConfigError:
        line = self.data.key_lines.get(key, self.data.line) if key else self.data.line
        return ConfigError(message, source=f"{self.source}:{line}")

    def only(self, allowed: Sequence[str], what: str) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown field {key!r} in {what}; allowed: "
                                     + ", ".join(allowed))

    def sub(self, key: str) -> _Reader:
        value = self.data.get(key)
        if not isinstance(value, _Map):
            raise self.fail(key, f"{key!r} must be a mapping")
        return _Reader(self.source, value)

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(None, f"missing field {key!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"{key!r} must be non-empty text")
        return value.strip()

    def required(self, key: str) -> str:
        value = self.text(key)
        assert value is not None  # text() raises for a missing required field
        return value

    def party(self, key: str) -> str:
        value = self.required(key)
        if value not in PARTY_IDS:
            raise self.fail(key, f"{key}: unknown party {value!r}; parties: "
                                 + ", ".join(sorted(PARTY_IDS)))
        return value

    def words(self, key: str, allowed: frozenset[str], what: str) -> tuple[str, ...] | None:
        value = self.data.get(key)
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise self.fail(key, f"{key!r} must be a list of {what}")
        for item in items:
            if item not in allowed:
                raise self.fail(key, f"{key}: unknown {what} {item!r}; known: "
                                     + ", ".join(sorted(allowed)))
        return tuple(dict.fromkeys(items))

    def duration(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        found = _DURATION.match(str(value).strip())
        if not found or int(found.group(1)) <= 0:
            raise self.fail(key, f"{key}: duration {value!r} must look like 30s, 3m, 2h or 7d")
        return int(found.group(1)) * _UNIT_MS[found.group(2)]


def _match(reader: _Reader, *, allow_severity: bool) -> Match:
    fields = ["kinds", "estates", "buildings", "elderly_alone", "hours", "history"]
    if allow_severity:
        fields.append("severities")
    reader.only(fields, "when")
    kinds = reader.words("kinds", KINDS, "kind")
    severities = reader.words("severities", frozenset(s.value for s in Severity), "severity")
    elderly = reader.data.get("elderly_alone")
    if elderly is not None and not isinstance(elderly, bool):
        raise reader.fail("elderly_alone", "elderly_alone must be true or false")
    hours: HoursWindow | None = None
    if "hours" in reader.data:
        found = _HOURS.match(str(reader.data["hours"]))
        values = [int(g) for g in found.groups()] if found else []
        if not found or values[0] > 23 or values[2] > 24 or values[1] > 59 or values[3] > 59:
            raise reader.fail("hours", f"hours {reader.data['hours']!r} must look like "
                                       "22:00-06:00")
        hours = HoursWindow(values[0] * 60 + values[1], values[2] * 60 + values[3])
    history = _history(reader.sub("history"), kinds) if "history" in reader.data else None
    estates = reader.words("estates", _ANY_TEXT, "estate")
    buildings = reader.words("buildings", _ANY_TEXT, "building")
    return Match(
        kinds=frozenset(kinds) if kinds else None,
        severities=frozenset(severities) if severities else None,
        estates=frozenset(estates) if estates else None,
        buildings=frozenset(buildings) if buildings else None,
        elderly_alone=elderly,
        hours=hours,
        history=history,
    )


class _AnyText(frozenset[str]):
    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and bool(item)


_ANY_TEXT = _AnyText()


def _history(reader: _Reader, rule_kinds: tuple[str, ...] | None) -> HistoryCondition:
    reader.only(["scope", "of", "kinds", "at_least", "within"], "history")
    try:
        scope = Scope(reader.required("scope"))
    except ValueError:
        raise reader.fail("scope", "scope must be one of "
                                   + ", ".join(s.value for s in Scope)) from None
    try:
        counted = Counted(reader.text("of", required=False) or "alarms")
    except ValueError:
        raise reader.fail("of", "of must be alarms or tickets") from None
    kinds = reader.words("kinds", KINDS, "kind") or rule_kinds
    if not kinds:
        raise reader.fail(None, "history needs kinds (here or in the rule)")
    at_least = reader.data.get("at_least")
    if not isinstance(at_least, int) or isinstance(at_least, bool) or at_least < 1:
        raise reader.fail("at_least", "at_least must be a whole number >= 1")
    within = reader.duration("within")
    if within is None:
        raise reader.fail(None, "missing field 'within'")
    return HistoryCondition(HistoryQuery(scope, counted, frozenset(kinds), within), at_least)


def _parties(reader: _Reader, key: str) -> tuple[str, ...]:
    return reader.words(key, PARTY_IDS, "party") or ()


def _route(reader: _Reader) -> Route:
    reader.only(["id", "when", "severity", "assignee", "notify", "sla", "chain", "convert"],
                "route")
    route_id = reader.required("id")
    match = _match(reader.sub("when"), allow_severity=False) if "when" in reader.data else Match()
    if match.kinds is None:
        raise reader.fail(None, f"route {route_id!r} needs when.kinds")
    try:
        severity = Severity(reader.required("severity"))
    except ValueError:
        raise reader.fail("severity", "severity must be critical, major or minor") from None
    assignee = reader.party("assignee")
    sla = Sla()
    if "sla" in reader.data:
        sla_reader = reader.sub("sla")
        sla_reader.only(["ack", "on_site", "resolve"], "sla")
        sla = Sla(sla_reader.duration("ack"), sla_reader.duration("on_site"),
                  sla_reader.duration("resolve"))
    chain = _parties(reader, "chain") or (assignee,)
    if chain[0] != assignee:
        raise reader.fail("chain", f"chain must start with the assignee {assignee!r}")
    for key, parties in (("assignee", (assignee,)), ("chain", chain)):
        if supervisor := next((p for p in parties if p in SUPERVISORS), None):
            raise reader.fail(key, f"{key}: {supervisor} supervises and only reads; it cannot "
                                   "hold a ticket")
    convert: Conversion | None = None
    if "convert" in reader.data:
        conv = reader.sub("convert")
        conv.only(["to", "after"], "convert")
        to_kind = conv.text("to")
        after = conv.duration("after")
        if to_kind not in KINDS:
            raise conv.fail("to", f"convert.to: unknown kind {to_kind!r}")
        if after is None:
            raise conv.fail(None, "convert needs 'after'")
        convert = Conversion(to_kind, after)
    return Route(route_id, match, severity, assignee, _parties(reader, "notify"), sla, chain,
                 convert, reader.data.line)


def _notify_rule(reader: _Reader) -> NotifyRule:
    reader.only(["id", "when", "notify"], "also_notify rule")
    rule_id = reader.required("id")
    notify = _parties(reader, "notify")
    if not notify:
        raise reader.fail(None, f"rule {rule_id!r} needs notify")
    return NotifyRule(rule_id, _match(reader.sub("when"), allow_severity=True), notify,
                      reader.data.line)


def _webhooks(reader: _Reader, base: Path | None) -> tuple[Webhook, ...]:
    hooks: list[Webhook] = []
    for party in reader.data:
        if party not in PARTY_IDS:
            raise reader.fail(party, f"webhooks: unknown party {party!r}")
        hook = reader.sub(party)
        hook.only(["url", "secret", "secret_file"], "webhook")
        url = hook.required("url")
        if not url.startswith(("http://", "https://")):
            raise hook.fail("url", "webhook url must start with http:// or https://")
        secret = hook.text("secret", required=False)
        secret_file = hook.text("secret_file", required=False)
        if secret_file:
            path = Path(secret_file)
            if base is not None and not path.is_absolute():
                path = base / path
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise hook.fail("secret_file", f"cannot read {path}: {exc.strerror}") from None
        if not secret:
            raise hook.fail(None, f"webhook of {party} needs secret or secret_file")
        hooks.append(Webhook(party, url, secret))
    return tuple(hooks)


def parse_matrix(text: str, source: str = "<matrix>", base: Path | None = None) -> DutyMatrix:
    loader = _LineLoader(text)
    loader.name = source
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError(f"not valid YAML: {exc.problem}", source=f"{source}:{line}") from None
    finally:
        loader.dispose()
    if not isinstance(data, _Map):
        raise ConfigError("the duty matrix must be a YAML mapping", source=f"{source}:1")
    top = _Reader(source, data)
    top.only(["version", "timezone", "routes", "also_notify", "overdue", "webhooks"],
             "the duty matrix")
    if data.get("version") != 1:
        raise top.fail("version", "version must be 1")
    timezone = top.text("timezone", required=False) or "Asia/Shanghai"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise top.fail("timezone", f"unknown timezone {timezone!r}") from None
    routes = tuple(_route(r) for r in _items(top, "routes"))
    notify_rules = tuple(_notify_rule(r) for r in _items(top, "also_notify"))
    _check_ids(top, [*routes, *notify_rules])
    _check_coverage(top, routes)
    overdue = OverduePolicy()
    if "overdue" in data:
        od = top.sub("overdue")
        od.only(["notify", "severities"], "overdue")
        overdue = OverduePolicy(
            _parties(od, "notify"),
            frozenset(od.words("severities", frozenset(s.value for s in Severity), "severity")
                      or ()))
    hooks = _webhooks(top.sub("webhooks"), base) if "webhooks" in data else ()
    return DutyMatrix(routes, notify_rules, overdue, timezone, hooks, source)


def _items(top: _Reader, key: str) -> list[_Reader]:
    value = top.data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, _Map) for v in value):
        raise top.fail(key, f"{key!r} must be a list of mappings")
    return [_Reader(top.source, v) for v in value]


def _check_ids(top: _Reader, rules: Sequence[Route | NotifyRule]) -> None:
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"rule id {rule.id!r} is used twice (first at line "
                              f"{seen[rule.id]})", source=f"{top.source}:{rule.line}")
        seen[rule.id] = rule.line


def _check_coverage(top: _Reader, routes: Sequence[Route]) -> None:
    """Every kind needs a route that always matches, so no alarm is left without a party."""
    covered = {k for r in routes if r.match.unconditional for k in (r.match.kinds or ())}
    missing = sorted(KINDS - covered)
    if missing:
        raise top.fail("routes", "no unconditional route for kind(s) " + ", ".join(missing))
    for route in routes:
        if route.convert and route.convert.to_kind not in covered:
            raise ConfigError(f"convert.to {route.convert.to_kind!r} has no route",
                              source=f"{top.source}:{route.line}")


def load_matrix(path: Path | None) -> DutyMatrix:
    """The matrix at ``path``, or the shipped default of the 1+6 model when ``path`` is None."""
    if path is None:
        text = resources.files("gongzhi.hub").joinpath(DEFAULT_MATRIX).read_text("utf-8")
        return parse_matrix(text, f"<default {DEFAULT_MATRIX}>")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read duty matrix: {exc.strerror}", source=str(path)) from None
    return parse_matrix(text, str(path), base=path.parent)


def matrix_summary(matrix: DutyMatrix) -> Mapping[str, str]:
    """Kind → the id of its unconditional route (for docs and checks)."""
    return {k: r.id for r in reversed(matrix.routes) if r.match.unconditional
            for k in sorted(r.match.kinds or ())}
