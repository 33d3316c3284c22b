"""Request and response bodies of the HTTP API (pydantic; unknown fields are refused).

Times are epoch milliseconds (UTC), like the alarms the gateway sends.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.core.config_kit import ID_CHARS
from gongzhi.hub.lifecycle import MAX_NOTE, Action

_ID = rf"^{ID_CHARS}$"
# An alarm's subject: a device id, or "<estate>:<building>" for a building-wide alarm.
_SUBJECT = r"^[A-Za-z0-9_.:-]{1,129}$"
# The largest integer of ids and times: every JSON parser keeps it exact (2**53 - 1) and the
# stores (SQLite, PostgreSQL BIGINT) hold it; larger ones are refused with 422 rather than
# failing in the database. In epoch ms it is the year 287396.
MAX_INT = 2**53 - 1


def json_number(value: Any) -> Any:
    """Only JSON numbers are numbers: pydantic's lax mode would take true/false as 1/0 and "12"
    as 12. (Not strict mode: JSON Schema calls 12.0 an integer, so it is taken as 12.)"""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        raise ValueError("a string is not a number")
    return value


# Epoch milliseconds from the gateway (constraints inside, so they survive in "Millis | None").
Millis = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(json_number)]
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(json_number)]
# Text fields declare what the body check (gongzhi.hub.json_body) refuses in every string: a
# NUL (PostgreSQL's text cannot hold it). Lone surrogates, refused too, no pattern can express.
NO_NUL = r"^[^\x00]*$"
# A household's id as the registry has it, and a party's short note on a household (an absence,
# a visit).
HouseholdId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_#.-]+$")]
HouseholdNote = Annotated[str, Field(max_length=500, pattern=NO_NUL)]
# A metric's name, as the device catalogue has them (pressure_mpa, residual_ma).
_METRIC = r"^[a-z][a-z0-9_]{0,63}$"
Metric = Annotated[str, Field(pattern=_METRIC)]
# Declared with propertyNames (pydantic would write patternProperties, which lets other names
# through with any value).
MetricValues = Annotated[dict[Metric, Number], WithJsonSchema({
    "type": "object", "propertyNames": {"pattern": _METRIC},
    "additionalProperties": {"type": "number"}})]
# Device ids a device-state answer names as refused, at most.
MAX_NAMED_REFUSALS = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationPublic(Strict):
    estate_id: str
    building: str | None
    unit: str | None
    floor: str | None
    room: str | None = Field(description="null for parties that may not see personal data")


class TicketPublic(Strict):
    id: int
    kind: str
    severity: str
    status: str
    assignee: str
    notified: list[str]
    device_id: str
    location: LocationPublic
    opened_at: int
    first_seen: int
    last_seen: int
    updated_at: int
    occurrences: int
    due_at: int | None = Field(description="the next deadline not yet missed")
    ack_due_at: int | None
    on_site_due_at: int | None
    resolve_due_at: int | None
    escalation_level: int
    overdue: bool
    breaches: list[str] = Field(description="missed deadlines: ack, on_site, resolve")
    rule_id: str = Field(description="the duty-matrix route that decided the ticket")
    converted_from: str | None
    incident_id: int | None = Field(description="the ticket of the incident this one is part of")
    acknowledged_at: int | None
    on_site_at: int | None
    closed_at: int | None
    evidence: dict[str, Any]
    elderly_alone: bool | None = Field(description="null when hidden from the caller")
    household: str | None
    phone: str | None = Field(description="masked, e.g. 138****1234; null when hidden")
    allowed_actions: list[str] = Field(
        description="what the caller may do to the ticket now (the action matrix)")


class TimelineEntryPublic(Strict):
    ts: int
    type: str = Field(description="alarm, clear, routing, action or escalation")
    actor: str
    action: str | None
    note: str | None
    rule_id: str | None
    data: dict[str, Any]


class TicketDetail(TicketPublic):
    timeline: list[TimelineEntryPublic]


class Refusal(Strict):
    reason: str = Field(description="read_only, not_assignee, gateway_token or not_gateway")
    message: str


class Refused(Strict):
    """A 403 answer: who may not do what, and why."""

    detail: Refusal


class ActionCreate(Strict):
    action: Action
    note: Annotated[str, Field(max_length=MAX_NOTE, pattern=NO_NUL)] | None = None


class AlarmIn(Strict):
    """``gongzhi.core.alarms.Alarm.to_dict()``."""

    alarm_id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    kind: AlarmKind
    device_id: str = Field(pattern=_SUBJECT)
    estate_id: str = Field(pattern=_ID)
    ts_ms: Millis
    state: AlarmState = AlarmState.RAISE
    evidence: dict[str, Any] = Field(default_factory=dict)
    building: Annotated[str, Field(pattern=NO_NUL)] | None = None


class AlarmAccepted(Strict):
    ticket_id: int | None
    created: bool
    duplicate: bool


# Alarms in one batch, at most: a storm's backlog goes in a few hundred requests, and one
# request's transaction stays short.
MAX_ALARM_BATCH = 500


class AlarmBatchIn(Strict):
    alarms: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_ALARM_BATCH,
        description="each the body of POST /api/alarms (Alarm.to_dict()); each is checked on "
                    "its own, so one that is refused does not refuse the others")


class AlarmResult(Strict):
    alarm_id: str | None = Field(description="null when the entry is not a valid alarm")
    result: Literal["stored", "duplicate", "refused", "retry"] = Field(
        description="stored: a new ticket or an occurrence; duplicate: delivered before (the "
                    "same ticket); refused: never to be sent again (reason, message); retry: "
                    "could not be stored now, send it again")
    ticket_id: int | None
    created: bool
    reason: str | None = None
    message: str | None = None


class AlarmBatchAccepted(Strict):
    results: list[AlarmResult] = Field(description="one per alarm, in the order sent")


class DeviceStateIn(Strict):
    device_id: str = Field(pattern=_ID)
    online: StrictBool | None = None
    last_seen_ms: Millis | None = None
    values: MetricValues = Field(default_factory=dict)
    values_ts_ms: Millis | None = None


class DeviceStatesIn(Strict):
    devices: list[DeviceStateIn] = Field(max_length=10_000)


class DeviceStatesAccepted(Strict):
    accepted: int = Field(description="states kept")
    refused: int = Field(description="states of devices the registry lacks, not kept")
    unregistered: list[str] = Field(
        max_length=MAX_NAMED_REFUSALS,
        description=f"those devices' ids (the first {MAX_NAMED_REFUSALS}, sorted)")


class DevicePublic(Strict):
    device_id: str
    type: str
    location: LocationPublic
    riser: str | None
    position: str | None
    online: bool | None = Field(description="null until the gateway has reported the device")
    last_seen_ms: int | None
    values: dict[str, float]
    values_ts_ms: int | None
    elderly_alone: bool | None
    household: str | None
    phone: str | None


class Me(Strict):
    party: str
    views: list[str]
    personal_data: str = Field(description="none, location or full")
    read_only: bool


class Health(Strict):
    status: str
    store: str


class Durations(Strict):
    median_s: float | None
    p90_s: float | None


class Summary(Strict):
    tickets: int
    open: int
    acknowledged: int
    resolved: int
    false_alarms: int
    time_to_ack: Durations
    time_to_resolve: Durations
    sla_decided: int = Field(description="tickets whose SLA outcome is known")
    sla_met: int
    sla_compliance: float | None = Field(description="sla_met / sla_decided")
    overdue_open: int
    breached: int
    escalated: int


class PartyKindSummary(Summary):
    party: str
    kind: str


class DaySummary(Summary):
    day: str = Field(description="local date of opening, YYYY-MM-DD")


class Stats(Strict):
    generated_at: int
    since: int
    timezone: str
    totals: Summary
    by_party_kind: list[PartyKindSummary]
    by_day: list[DaySummary]
