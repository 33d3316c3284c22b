"""Where telemetry goes: the embedded store always (the platform's trends and the backtest read
it through ``gongzhi.telemetry``), and InfluxDB too when ``GONGZHI_INFLUX_URL`` is set.

Both expose the spool gauges in ``/metrics`` (always 0 for the embedded store, which has no
spool), so dashboards need no special case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.pipeline import TelemetrySink
from gongzhi.gateway.telemetry_store import TelemetryStore


def open_sink(settings: Settings, telemetry_path: Path, spool_path: Path, registry: Registry,
              metrics: GatewayMetrics) -> tuple[TelemetrySink, Callable[[], None]]:
    """The opened sink and how to close it."""
    if settings.influx_url:
        from gongzhi.gateway.influx import open_influx_sink  # only when InfluxDB is configured

        return open_influx_sink(settings, telemetry_path, spool_path, registry, metrics)
    store = TelemetryStore(telemetry_path)
    store.open()
    metrics.gauge("spool_bytes", "bytes of telemetry spooled to disk for InfluxDB", lambda: 0)
    metrics.gauge("spool_points", "telemetry points spooled to disk for InfluxDB", lambda: 0)
    return store, store.close
