"""The gateway's counters and gauges (prometheus_client), rendered for ``/metrics``.

Counters are incremented by the worker and sender threads; gauges are read from callables when
``/metrics`` is scraped (outbox size, spool size, queue depth), so they are never stale.

Every figure lives in ``GatewayMetrics.registry``, a registry of this gateway only (not the
library's global one). Another part of the gateway adds its own metrics by registering them
there, and ``render`` shows them with the rest::

    received = Counter("gongzhi_gateway_source_messages_received", "messages a source took",
                       ["source"], registry=metrics.registry)

or, for figures read at scrape time, a ``prometheus_client.registry.Collector`` passed to
``metrics.registry.register(...)`` (give it a ``describe`` that returns ``[]`` if its names vary).
Unlabelled scrape-time gauges need only ``metrics.gauge(name, help, read)``. Names start with
``gongzhi_gateway_``; a counter's name is given without ``_total`` (the library appends it).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.samples import Sample

from gongzhi.core.exposition import ScrapedGauges, exposition

PREFIX = "gongzhi_gateway_"

COUNTERS: dict[str, str] = {
    "messages_received_total": "MQTT messages taken from the broker",
    "messages_processed_total": "messages decoded, validated and stored",
    "batches_total": "batches the worker took (messages_received_total / batches_total: the mean "
                     "batch size)",
    "messages_rejected_total": "messages refused, by reason (each one has a dead-letter record)",
    "event_details_dropped_total": "events kept without their malformed detail, by reason "
                                   "(each one has a dead-letter record)",
    "messages_skipped_total": "messages of another replica's partition",
    "messages_retained_ignored_total": "retained messages (a replay of the past, not device data) "
                                       "acknowledged and ignored",
    "duplicates_total": "repeated (device, seq) messages dropped",
    "out_of_order_total": "messages older than the newest one already seen from their device",
    "clock_corrected_total": "device timestamps ahead of the receive time, clamped",
    "telemetry_points_stored_total": "telemetry points written to the telemetry store",
    "telemetry_points_expired_total": "telemetry points older than the store's retention",
    "alarms_outboxed_total": "alarms committed to the outbox",
    "alarms_sent_total": "alarms the platform stored",
    "alarms_refused_total": "alarms the platform refused for good (kept in the outbox as dead)",
    "alarm_send_failures_total": "failed attempts to deliver an alarm (retried)",
    "device_states_sent_total": "device states reported to the platform",
    "device_state_failures_total": "failed device-state reports (retried)",
    "detection_errors_total": "batches the detection engine failed on",
    "storage_retries_total": "store writes retried after an error",
    "mqtt_connects_total": "successful MQTT connections",
    "registry_reloads_total": "registry reloads",
    "influx_points_written_total": "points InfluxDB accepted",
    "influx_write_failures_total": "batches InfluxDB failed to take (spooled)",
    "influx_retries_total": "write retries reported by the InfluxDB client",
    "influx_points_dropped_total": "points InfluxDB refused as bad data, or dropped from a full "
                                   "spool",
}


# The labels of the counters that have some; the others have none.
LABELS: dict[str, tuple[str, ...]] = {
    "messages_rejected_total": ("reason",),
    "event_details_dropped_total": ("reason",),
}


class GatewayMetrics:
    """The gateway's metrics in a registry of its own (``registry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(PREFIX + name.removesuffix("_total"), help_text,
                          LABELS.get(name, ()), registry=self.registry)
            for name, help_text in COUNTERS.items()}
        self._gauges = ScrapedGauges()
        self.registry.register(self._gauges)

    def _counter(self, name: str) -> Counter:
        try:
            return self._counters[name]
        except KeyError:
            raise KeyError(name) from None

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        counter = self._counter(name)
        (counter.labels(**labels) if labels else counter).inc(amount)

    def value(self, name: str, **labels: str) -> float:
        """One counter's value (0 when never incremented)."""
        wanted = {k: str(v) for k, v in labels.items()}
        return sum(s.value for s in self._samples(name) if s.labels == wanted)

    def total(self, name: str) -> float:
        """A counter summed over all its labels."""
        return sum(s.value for s in self._samples(name))

    def _samples(self, name: str) -> list[Sample]:
        return [s for family in self._counter(name).collect() for s in family.samples
                if s.name.endswith("_total")]

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Show ``read()`` as the gauge ``gongzhi_gateway_<name>``, read at each scrape."""
        self._gauges.add(PREFIX + name, help_text, read)

    def render(self) -> str:
        return exposition(self.registry)
