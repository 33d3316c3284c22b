"""Reading the duty matrix: its YAML file, checked by the config kit, into ``duty_model`` records.

The file's shape is declared once, by the pydantic models below; checks that span rules (every
kind has an unconditional route, rule ids are unique, conversions lead somewhere) follow. Every
error names the file and line. Durations use the kit's syntax (``30s``, ``3m``, ``2h``, ``7d``,
``1h30m``); a webhook's secret is named by ``{file: PATH}`` or ``{env: NAME}``, never written in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from gongzhi.core.config_kit import (
    STRICT_CONFIG,
    ConfigValueError,
    Document,
    Identifier,
    PositiveDuration,
    Secret,
    parse_yaml,
    to_ms,
    validate,
)
from gongzhi.core.errors import ConfigError
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
)
from gongzhi.hub.parties import PARTY_IDS, SUPERVISORS

DEFAULT_MATRIX = "duty_matrix.yaml"
_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def _one_of(allowed: frozenset[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; known: {', '.join(sorted(allowed))}")
        return value
    return AfterValidator(check)


def _listed(value: Any) -> Any:
    """One word may stand for a list of one."""
    return [value] if isinstance(value, str) else value


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
KindName = Annotated[str, _one_of(KINDS, "kind")]
PartyName = Annotated[str, _one_of(PARTY_IDS, "party")]
Kinds = Annotated[tuple[KindName, ...], BeforeValidator(_listed), AfterValidator(_unique)]
Parties = Annotated[tuple[PartyName, ...], BeforeValidator(_listed), AfterValidator(_unique)]
Severities = Annotated[tuple[Severity, ...], BeforeValidator(_listed), AfterValidator(_unique)]
Texts = Annotated[tuple[Text, ...], BeforeValidator(_listed), AfterValidator(_unique)]


def _hours(value: str) -> HoursWindow:
    """``"22:00-06:00"`` (local time; the end may be 24:00 and may wrap past midnight)."""
    found = _HOURS.fullmatch(value.strip())
    h1, m1, h2, m2 = (int(g) for g in found.groups()) if found else (99, 0, 0, 0)
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        raise ValueError(f"hours {value!r} must look like 22:00-06:00")
    return HoursWindow(h1 * 60 + m1, h2 * 60 + m2)


def _check_hours(value: str) -> str:
    _hours(value)
    return value


class _History(BaseModel):
    model_config = STRICT_CONFIG

    scope: Scope
    of: Counted = Counted.ALARMS
    kinds: Kinds = ()
    at_least: Annotated[int, Field(strict=True, ge=1)]
    within: PositiveDuration


class _When(BaseModel):
    model_config = STRICT_CONFIG

    kinds: Kinds = ()
    estates: Texts = ()
    buildings: Texts = ()
    elderly_alone: Annotated[bool | None, Field(strict=True)] = None
    hours: Annotated[str, AfterValidator(_check_hours)] | None = None
    history: _History | None = None

    @model_validator(mode="after")
    def _history_has_kinds(self) -> _When:
        if self.history is not None and not (self.history.kinds or self.kinds):
            raise ConfigValueError("history needs kinds (here or in the rule)", "history")
        return self

    def match(self, severities: tuple[Severity, ...] = ()) -> Match:
        history = None
        if self.history is not None:
            h = self.history
            query = HistoryQuery(h.scope, h.of, frozenset(h.kinds or self.kinds), to_ms(h.within))
            history = HistoryCondition(query, h.at_least)
        return Match(
            kinds=frozenset(self.kinds) or None,
            severities=frozenset(s.value for s in severities) or None,
            estates=frozenset(self.estates) or None,
            buildings=frozenset(self.buildings) or None,
            elderly_alone=self.elderly_alone,
            hours=None if self.hours is None else _hours(self.hours),
            history=history,
        )


class _NotifyWhen(_When):
    severities: Severities = ()


class _Sla(BaseModel):
    model_config = STRICT_CONFIG

    ack: PositiveDuration | None = None
    on_site: PositiveDuration | None = None
    resolve: PositiveDuration | None = None


class _Convert(BaseModel):
    model_config = STRICT_CONFIG

    to: KindName
    after: PositiveDuration


class _Route(BaseModel):
    model_config = STRICT_CONFIG

    id: Identifier
    when: _When
    severity: Severity
    assignee: PartyName
    notify: Parties = ()
    sla: _Sla = _Sla()
    chain: Parties = ()
    convert: _Convert | None = None

    @model_validator(mode="after")
    def _holders(self) -> _Route:
        if not self.when.kinds:
            raise ConfigValueError(f"route {self.id!r} needs when.kinds", "when")
        if self.chain and self.chain[0] != self.assignee:
            raise ConfigValueError(f"chain must start with the assignee {self.assignee!r}",
                                   "chain")
        for key, parties in (("assignee", (self.assignee,)), ("chain", self.chain)):
            if supervisor := next((p for p in parties if p in SUPERVISORS), None):
                raise ConfigValueError(f"{supervisor} supervises and only reads; it cannot "
                                       "hold a ticket", key)
        return self

    def route(self, line: int) -> Route:
        sla = Sla(*(None if d is None else to_ms(d)
                    for d in (self.sla.ack, self.sla.on_site, self.sla.resolve)))
        convert = (Conversion(self.convert.to, to_ms(self.convert.after))
                   if self.convert is not None else None)
        return Route(self.id, self.when.match(), self.severity, self.assignee, self.notify, sla,
                     self.chain or (self.assignee,), convert, line)


class _NotifyRule(BaseModel):
    model_config = STRICT_CONFIG

    id: Identifier
    when: _NotifyWhen
    notify: Annotated[Parties, Field(min_length=1)]

    def rule(self, line: int) -> NotifyRule:
        return NotifyRule(self.id, self.when.match(self.when.severities), self.notify, line)


class _Overdue(BaseModel):
    model_config = STRICT_CONFIG

    notify: Parties = ()
    severities: Severities = ()


class _Webhook(BaseModel):
    model_config = STRICT_CONFIG

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    secret: Secret


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None
    return name


def _version(value: int) -> int:
    if value != 1:
        raise ValueError("version must be 1")
    return value


class MatrixFile(BaseModel):
    """The duty matrix file as written."""

    model_config = STRICT_CONFIG

    version: Annotated[int, AfterValidator(_version)]
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Shanghai"
    routes: tuple[_Route, ...] = ()
    also_notify: tuple[_NotifyRule, ...] = ()
    overdue: _Overdue = _Overdue()
    webhooks: dict[PartyName, _Webhook] = Field(default_factory=dict)


def parse_matrix(text: str, source: str = "<matrix>", base: Path | None = None) -> DutyMatrix:
    """The matrix in ``text``; ``base`` is where relative secret files are found."""
    document = parse_yaml(text, source)
    written = validate(document, MatrixFile, base=base)
    routes = tuple(r.route(document.line_of(("routes", i))) for i, r in enumerate(written.routes))
    rules = tuple(r.rule(document.line_of(("also_notify", i)))
                  for i, r in enumerate(written.also_notify))
    _check_ids(document, [*routes, *rules])
    _check_coverage(document, routes)
    overdue = OverduePolicy(written.overdue.notify,
                            frozenset(s.value for s in written.overdue.severities))
    hooks = tuple(Webhook(party, hook.url, hook.secret.reveal())
                  for party, hook in written.webhooks.items())
    return DutyMatrix(routes, rules, overdue, written.timezone, hooks, source)


def _check_ids(document: Document, rules: Sequence[Route | NotifyRule]) -> None:
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"rule id {rule.id!r} is used twice (first at line "
                              f"{seen[rule.id]})", source=f"{document.source}:{rule.line}")
        seen[rule.id] = rule.line


def _check_coverage(document: Document, routes: Sequence[Route]) -> None:
    """Every kind needs a route that always matches, so no alarm is left without a party."""
    covered = {k for r in routes if r.match.unconditional for k in (r.match.kinds or ())}
    if missing := sorted(KINDS - covered):
        raise document.fail(("routes",), "no unconditional route for kind(s) "
                            + ", ".join(missing))
    for route in routes:
        if route.convert and route.convert.to_kind not in covered:
            raise ConfigError(f"convert.to {route.convert.to_kind!r} has no route",
                              source=f"{document.source}:{route.line}")


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

