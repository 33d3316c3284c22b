"""Recorded telemetry from the gateway's embedded telemetry store, for a device set and a time
range: each stored message becomes one row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import spec_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.backtest.replay import check_series
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.telemetry.embedded import EmbeddedReader

NEVER = 2**62


def read_store(path: Path, registry: Registry, devices: list[str] | None,
               since_ms: int | None, until_ms: int | None) -> list[DeviceSeries]:
    if not path.is_file():
        raise ConfigError("no telemetry store here", source=str(path))
    wanted = devices if devices is not None else [r.device_id for r in registry]
    unknown = [d for d in wanted if d not in registry]
    if unknown:
        raise ConfigError(f"--devices: not in the registry: {', '.join(unknown[:10])}")
    start, end = since_ms if since_ms is not None else 0, until_ms if until_ms is not None \
        else NEVER
    out: list[DeviceSeries] = []
    with EmbeddedReader(path) as reader:
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
            out.append(DeviceSeries(device_id, ts, columns, source=f"{path}[{device_id}]",
                                    first_line=1))
    check_series(registry, out)
    return out
