"""Online state and latest values per device, reported to the platform (``POST
/api/device-states``) every couple of seconds for the devices that changed.

A device is online from any accepted message or an ``online`` status, offline on an ``offline``
status (its last will) or after its type's ``offline_after_ms`` of silence (device catalogue).
A failed report leaves the devices marked as changed, so the next one carries their newest state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import orjson

from gongzhi.core.clock import Clock
from gongzhi.devices.catalogue import spec_for
from gongzhi.gateway.messages import DeviceMessage, Presence, StatusChange, Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.periodic_report import PeriodicReport
from gongzhi.gateway.platform_client import PlatformClient, PlatformUnreachable

log = logging.getLogger(__name__)

DEVICE_STATES_PATH = "/api/device-states"
CHUNK = 2000


class _State:
    __slots__ = ("last_seen_ms", "offline_after_ms", "online", "values", "values_ts_ms")

    def __init__(self, offline_after_ms: int) -> None:
        self.online = False
        self.last_seen_ms = 0
        self.values: dict[str, float] = {}
        self.values_ts_ms = 0
        self.offline_after_ms = offline_after_ms


class DeviceStateTracker:
    """Thread-safe: the ingest worker observes, the reporter takes."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._changed: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def observe(self, messages: Iterable[DeviceMessage]) -> None:
        with self._lock:
            for m in messages:
                state = self._states.get(m.device_id)
                if state is None:
                    state = _State(spec_for(m.device_type).offline_after_ms)
                    self._states[m.device_id] = state
                state.last_seen_ms = max(state.last_seen_ms, m.received_ms)
                state.online = not (isinstance(m, StatusChange)
                                    and m.presence is Presence.OFFLINE)
                if isinstance(m, Telemetry) and m.ts_ms >= state.values_ts_ms:
                    state.values.update(m.values)
                    state.values_ts_ms = m.ts_ms
                self._changed.add(m.device_id)

    def device_ids(self) -> set[str]:
        with self._lock:
            return set(self._states)

    def mark_silent(self, now_ms: int) -> int:
        """Devices silent past their type's limit go offline; returns how many did."""
        count = 0
        with self._lock:
            for device_id, state in self._states.items():
                if state.online and now_ms - state.last_seen_ms > state.offline_after_ms:
                    state.online = False
                    self._changed.add(device_id)
                    count += 1
        return count

    def take_changed(self) -> list[dict[str, Any]]:
        with self._lock:
            changed, self._changed = self._changed, set()
            return [{"device_id": d, "online": s.online, "last_seen_ms": s.last_seen_ms,
                     "values": dict(s.values), "values_ts_ms": s.values_ts_ms}
                    for d in sorted(changed) if (s := self._states.get(d)) is not None]

    def mark_changed(self, device_ids: Iterable[str]) -> None:
        with self._lock:
            self._changed.update(device_ids)


class DeviceStateReporter(PeriodicReport):
    name = "device-states"

    def __init__(self, tracker: DeviceStateTracker, client: PlatformClient,
                 metrics: GatewayMetrics, clock: Clock, *, interval_s: float = 2.0) -> None:
        super().__init__(interval_s)
        self._tracker = tracker
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._last_failure: int | None = None

    def report_once(self) -> int:
        """Send the changed devices; returns how many the platform took."""
        self._tracker.mark_silent(self._clock.now_ms())
        states = self._tracker.take_changed()
        sent = 0
        for start in range(0, len(states), CHUNK):
            chunk = states[start:start + CHUNK]
            try:
                status, text = self._client.post(DEVICE_STATES_PATH,
                                                 orjson.dumps({"devices": chunk}))
            except PlatformUnreachable:
                status, text = 0, "unreachable"
            if 200 <= status < 300:
                sent += len(chunk)
                self._last_failure = None
                continue
            self._metrics.inc("device_state_failures_total")
            if status != self._last_failure:  # log each kind of failure once, not every 2 s
                self._last_failure = status
                log.warning("device states not taken by the platform: %s %s",
                            status or "no answer", text)
            if 400 <= status < 500 and status not in (401, 403, 408, 429):
                continue  # a refused report is not retried: the next change sends newer state
            self._tracker.mark_changed(s["device_id"] for s in states[start:])
            break
        self._metrics.inc("device_states_sent_total", sent)
        return sent
