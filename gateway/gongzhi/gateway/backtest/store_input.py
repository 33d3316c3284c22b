"""Recorded telemetry from the gateway's telemetry store (the embedded one, or InfluxDB through
``gongzhi.telemetry``), for a device set and a time range: each stored message becomes one
row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np

from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import spec_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.backtest.replay import check_series
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.telemetry.embedded import EmbeddedReader

NEVER = 2**62


class RowReader(Protocol):
    def rows(self, device_id: str, since_ms: int,
             until_ms: int) -> list[tuple[int, dict[str, float]]]: ...


def read_store(path: Path, registry: Registry, devices: list[str] | None,
               since_ms: int | None, until_ms: int | None) -> list[DeviceSeries]:
    if not path.is_file():
        raise ConfigError("no telemetry store here", source=str(path))
    with EmbeddedReader(path) as reader:
        return read_rows(reader, str(path), registry, devices, since_ms, until_ms)


def read_influx(settings: Settings, registry: Registry, devices: list[str] | None,
                since_ms: int | None, until_ms: int | None) -> list[DeviceSeries]:
    if not settings.influx_url:
        raise ConfigError("--source influx needs the InfluxDB settings (GONGZHI_INFLUX_URL)")
    from gongzhi.telemetry.influx import InfluxReader  # only when InfluxDB is asked for

    with InfluxReader(url=settings.influx_url, token=settings.influx_token,
                      org=settings.influx_org, bucket=settings.influx_bucket) as reader:
        return read_rows(reader, settings.influx_url, registry, devices, since_ms, until_ms)


def read_rows(reader: RowReader, source: str, registry: Registry, devices: list[str] | None,
              since_ms: int | None, until_ms: int | None) -> list[DeviceSeries]:
    wanted = devices if devices is not None else [r.device_id for r in registry]
    unknown = [d for d in wanted if d not in registry]
    if unknown:
        raise ConfigError(f"--devices: not in the registry: {', '.join(unknown[:10])}")
    start, end = since_ms if since_ms is not None else 0, until_ms if until_ms is not None \
        else NEVER
    out: list[DeviceSeries] = []
    for device_id in wanted:
        record = registry.get(device_id)
        assert record is not None
        rows = reader.rows(device_id, start, end)
        if not rows:
            continue
        metrics = [m for m in spec_for(record.type).metrics
                   if any(m in values for _, values in rows)]
        ts = np.array([t for t, _ in rows], np.int64)
        columns = {m: np.array([values.get(m, math.nan) for _, values in rows], np.float64)
                   for m in metrics}
        out.append(DeviceSeries(device_id, ts, columns, source=f"{source}[{device_id}]",
                                first_line=1))
    check_series(registry, out)
    return out
