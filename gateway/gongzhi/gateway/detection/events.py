"""Device events (CONTRACT.md) to alarms through the catalogue's EVENT_KINDS. An event is the
device's own verdict: each one is an occurrence (the platform counts them on one open ticket);
events with no ticket kind (``silenced``) raise nothing."""

from __future__ import annotations

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import EVENT_KINDS
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.messages import DeviceEvent


def event_alarm(index: DeviceIndex, slot: int, event: DeviceEvent) -> Alarm | None:
    kind = EVENT_KINDS.get(event.event)
    if kind is None:
        return None
    evidence = {"rule": "event", "event": event.event, "detail": dict(event.detail),
                "window": {"start_ms": event.ts_ms, "end_ms": event.ts_ms}}
    return index.alarm(slot, kind, event.ts_ms, event.ts_ms, AlarmState.RAISE, evidence)
