"""The gateway's counters and gauges, rendered in the Prometheus text format for ``/metrics``.

Counters are incremented by the worker and sender threads; gauges are read from callables when
``/metrics`` is scraped (outbox size, spool size, queue depth), so they are never stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

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


class GatewayMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        if name not in COUNTERS:
            raise KeyError(name)
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        """One counter's value (0 when never incremented)."""
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0)

    def total(self, name: str) -> float:
        """A counter summed over all its labels."""
        with self._lock:
            return sum(v for (n, _), v in self._values.items() if n == name)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._gauges[name] = (help_text, read)

    def render(self) -> str:
        with self._lock:
            values = dict(self._values)
        lines: list[str] = []
        for name, help_text in COUNTERS.items():
            lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} counter"]
            samples = [(labels, v) for (n, labels), v in values.items() if n == name]
            if not samples:
                samples = [((), 0)]
            for labels, v in sorted(samples):
                lines.append(f"{PREFIX}{name}{_labels(labels)} {_number(v)}")
        for name, (help_text, read) in sorted(self._gauges.items()):
            try:
                value = read()
            except Exception:  # a gauge must not break the scrape (e.g. a store closing)
                continue
            lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge",
                      f"{PREFIX}{name} {_number(value)}"]
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
