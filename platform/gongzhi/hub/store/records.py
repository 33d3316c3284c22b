"""Rows the store hands out besides tickets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gongzhi.hub.tickets import Ticket


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery of an alarm state, remembered so a repeat is recognised."""

    alarm_id: str
    state: str
    kind: str
    device_id: str
    household: str | None
    riser: str | None
    building: str | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A change of a ticket, numbered in commit order; ``ticket`` is the state after it."""

    seq: int
    ticket_id: int
    ts_ms: int
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class DeviceState:
    device_id: str
    online: bool | None
    last_seen_ms: int | None
    values: Mapping[str, float] = field(default_factory=dict)
    values_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts_ms: int
    actor: str
    action: str  # "read" (personal data shown) or an action name
    ticket_id: int | None = None
    device_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookJob:
    id: int
    party: str
    url: str
    body: str
    attempts: int
