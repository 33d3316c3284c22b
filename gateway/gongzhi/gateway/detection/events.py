"""Device events (docs/contract.md) to alarms through the catalogue's EVENT_KINDS. An event is the
device's own verdict: each one is an occurrence (the platform counts them on one open ticket);
events with no ticket kind (``silenced``) raise nothing.

Every accepted event gets an alarm id of its own, however the messages fall into batches: the id
is made from the device, kind, time, the device's seq (when it sends one) and the event's place
among the device's events of that kind at the same millisecond and seq. The same message
delivered again (a redelivery after a restart) gets the same id, so the platform counts it once.
"""

from __future__ import annotations

from collections.abc import Container

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import EVENT_KINDS
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.messages import DeviceEvent


class EventAlarms:
    """Per (device, kind): the last event's time and seq, and how many came with them."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[int, int | None, int]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def alarm(self, index: DeviceIndex, slot: int, event: DeviceEvent) -> Alarm | None:
        kind = EVENT_KINDS.get(event.event)
        if kind is None:
            return None
        key = (event.device_id, kind.value)
        last = self._last.get(key)
        same = last is not None and last[0] == event.ts_ms and last[1] == event.seq
        ordinal = last[2] + 1 if same and last is not None else 0
        self._last[key] = (event.ts_ms, event.seq, ordinal)
        instance = "" if event.seq is None and ordinal == 0 else f"{event.seq}#{ordinal}"
        evidence = {"rule": "event", "event": event.event, "detail": dict(event.detail),
                    "window": {"start_ms": event.ts_ms, "end_ms": event.ts_ms}}
        return index.alarm(slot, kind, event.ts_ms, event.ts_ms, AlarmState.RAISE, evidence,
                           instance=instance)

    def retain(self, device_ids: Container[str]) -> None:
        """Forget devices no longer registered."""
        self._last = {key: last for key, last in self._last.items() if key[0] in device_ids}
