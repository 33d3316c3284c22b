"""Abuse limits without accounts: accepted reports per device (a random cookie the page sets)
and per client address, each per building, in sliding windows. A resident reporting three
hazards in an hour is normal; a script posting hundreds is not, and one address (a phone
carrier's NAT) may stand for many residents, so its limit is wider.

Kept in memory per platform process (a replica counts its own); bounded: past ``max_keys`` keys
the least recently used is forgotten.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from gongzhi.core.clock import Clock

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Window:
    scope: str  # "device" or "address"
    limit: int
    span_ms: int
    reason: str  # for machines, e.g. "device_hour"
    message: str


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window("device", 3, HOUR_MS, "device_hour",
           "this phone has sent 3 reports for this building in the last hour"),
    Window("device", 10, DAY_MS, "device_day",
           "this phone has sent 10 reports for this building today"),
    Window("address", 10, HOUR_MS, "address_hour",
           "your network has sent 10 reports for this building in the last hour"),
    Window("address", 40, DAY_MS, "address_day",
           "your network has sent 40 reports for this building today"),
)


@dataclass(frozen=True, slots=True)
class Limited:
    reason: str
    message: str
    retry_after_s: int


class ReportLimiter:
    """Thread-safe. ``check`` says whether a report may be made now; ``record`` counts one that
    was accepted (a refused or invalid report does not use up the resident's allowance)."""

    def __init__(self, clock: Clock, windows: tuple[Window, ...] = DEFAULT_WINDOWS, *,
                 max_keys: int = 50_000) -> None:
        self._clock = clock
        self._windows = windows
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[int]] = OrderedDict()
        self._lock = threading.Lock()
        self._longest = max((w.span_ms for w in windows), default=0)

    @staticmethod
    def _key(scope: str, who: str, building: str) -> str:
        return f"{scope}|{who}|{building}"

    def check(self, *, device: str, address: str, building: str) -> Limited | None:
        now = self._clock.now_ms()
        who = {"device": device, "address": address}
        with self._lock:
            for window in self._windows:
                times = self._times.get(self._key(window.scope, who[window.scope], building))
                if not times:
                    continue
                recent = [t for t in times if t > now - window.span_ms]
                if len(recent) >= window.limit:
                    wait_ms = recent[-window.limit] + window.span_ms - now
                    return Limited(window.reason, window.message, max(1, -(-wait_ms // 1000)))
        return None

    def record(self, *, device: str, address: str, building: str) -> None:
        now = self._clock.now_ms()
        with self._lock:
            for scope, who in (("device", device), ("address", address)):
                key = self._key(scope, who, building)
                times = self._times.pop(key, None) or deque()
                times.append(now)
                while times and times[0] <= now - self._longest:
                    times.popleft()
                self._times[key] = times
            while len(self._times) > self._max_keys:
                self._times.popitem(last=False)
