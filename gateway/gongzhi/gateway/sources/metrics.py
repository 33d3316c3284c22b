"""Per-source figures for ``/metrics``: messages received, accepted, rejected by reason,
duplicates, what was ignored, whether the source is up and the age of its last message.

Counted by the ingest worker (received, accepted, rejected: the same decisions the pipeline
makes) and by the sources themselves (``counters(id)``: duplicates, ignored parts). Rendered
with prometheus_client from a registry of their own or the gateway's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gongzhi.core.clock import Clock
from gongzhi.gateway.sources.base import SourceHealth

PREFIX = "gongzhi_gateway_source_"

HealthReader = Callable[[], SourceHealth]


class _Counters:
    """One source's own counters (``SourceCounters``)."""

    def __init__(self, metrics: SourceMetrics, source_id: str) -> None:
        self._metrics = metrics
        self._source_id = source_id

    def duplicate(self, count: int = 1) -> None:
        self._metrics.duplicates.labels(self._source_id).inc(count)

    def ignored(self, what: str, count: int = 1) -> None:
        self._metrics.ignored.labels(self._source_id, what).inc(count)

    def refused(self, reason: str, count: int = 1) -> None:
        self._metrics.refused.labels(self._source_id, reason).inc(count)


class SourceMetrics(Collector):
    def __init__(self, clock: Clock, registry: CollectorRegistry | None = None) -> None:
        self._clock = clock
        self.registry = registry if registry is not None else CollectorRegistry(
            auto_describe=True)
        self._own_registry = registry is None
        r = self.registry
        self.received = Counter(f"{PREFIX}messages_received", "messages an outside source "
                                "handed to the pipeline", ["source"], registry=r)
        self.accepted = Counter(f"{PREFIX}messages_accepted", "outside messages translated and "
                                "validated (one or more contract messages kept)", ["source"],
                                registry=r)
        self.rejected = Counter(f"{PREFIX}messages_rejected", "outside messages (or parts) "
                                "refused, by reason; each one has a dead-letter record",
                                ["source", "reason"], registry=r)
        self.duplicates = Counter(f"{PREFIX}duplicates", "outside messages delivered again "
                                  "(same uplink) and dropped", ["source"], registry=r)
        self.ignored = Counter(f"{PREFIX}ignored", "parts of outside messages with nothing to "
                               "keep, by what they were", ["source", "what"], registry=r)
        self.refused = Counter(f"{PREFIX}refused", "outside messages turned away before the "
                               "pipeline (bad signature or token, body over the limit), by "
                               "reason; no dead letter", ["source", "reason"], registry=r)
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], Any] = {}  # (counter, *labels) -> its child
        self._last_ms: dict[str, int] = {}
        self._health: dict[str, tuple[HealthReader, int | None]] = {}
        self._tracked_ms: dict[str, int] = {}
        r.register(self)

    def counters(self, source_id: str) -> _Counters:
        return _Counters(self, source_id)

    def track(self, source_id: str, health: HealthReader, stale_after_ms: int | None) -> None:
        """Report ``source_id``'s health; silent for ``stale_after_ms`` (since its last message,
        or since now when none comes): down."""
        self._health[source_id] = (health, stale_after_ms)
        self._tracked_ms[source_id] = self._clock.now_ms()
        for counter in (self.received, self.accepted, self.duplicates):
            counter.labels(source_id)  # present at 0 from the start

    def saw(self, source_id: str, received_ms: int) -> None:
        """One message of the source reached the worker (counted, and its time kept)."""
        self._child(self.received, source_id).inc()
        if received_ms > self._last_ms.get(source_id, 0):
            with self._lock:
                if received_ms > self._last_ms.get(source_id, 0):
                    self._last_ms[source_id] = received_ms

    def accept(self, source_id: str) -> None:
        self._child(self.accepted, source_id).inc()

    def reject(self, source_id: str, reason: str) -> None:
        self._child(self.rejected, source_id, reason).inc()

    def value(self, counter: Counter, *labels: str) -> float:
        """A counter's value for these labels (tests, reports)."""
        return float(self._child(counter, *labels)._value.get())

    def _child(self, counter: Counter, *labels: str) -> Any:
        """``counter.labels(*labels)``, looked up once (labels() costs more than inc())."""
        key = (counter._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    def last_message_age_ms(self, source_id: str) -> int | None:
        with self._lock:
            last = self._last_ms.get(source_id)
        return None if last is None else max(0, self._clock.now_ms() - last)

    def health(self, source_id: str) -> SourceHealth:
        """The source's own health, and down when it has been silent past ``stale_after``."""
        reader, stale_after_ms = self._health[source_id]
        try:
            health = reader()
        except Exception as exc:  # a health check must not break /readyz
            return SourceHealth(False, f"health check failed: {exc!r}"[:200])
        if not health.up or stale_after_ms is None:
            return health
        age = self.last_message_age_ms(source_id)
        if age is None:  # nothing yet: silent since it was started
            silent = self._clock.now_ms() - self._tracked_ms.get(source_id, self._clock.now_ms())
            if silent > stale_after_ms:
                return SourceHealth(False, f"no message in {silent // 1000} s since the start")
            return health
        if age > stale_after_ms:
            return SourceHealth(False, f"no message for {age // 1000} s")
        return health

    def down(self) -> dict[str, str]:
        """The sources that are down, with why."""
        out = {}
        for source_id in sorted(self._health):
            health = self.health(source_id)
            if not health.up:
                out[source_id] = health.reason or "down"
        return out

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(f"{PREFIX}up", "1 while the source can receive", labels=["source"])
        age = GaugeMetricFamily(f"{PREFIX}last_message_age_seconds", "time since the source's "
                                "last message (absent before the first)", labels=["source"])
        for source_id in sorted(self._health):
            up.add_metric([source_id], 1.0 if self.health(source_id).up else 0.0)
            last = self.last_message_age_ms(source_id)
            if last is not None:
                age.add_metric([source_id], last / 1000)
        yield up
        yield age

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def render(self) -> str:
        """The text exposition, when the figures have a registry of their own ("" otherwise:
        the gateway's registry renders them)."""
        return generate_latest(self.registry).decode() if self._own_registry else ""
