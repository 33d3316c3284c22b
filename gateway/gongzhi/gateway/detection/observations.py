"""One round of telemetry for a type group: at most one observation per device, in device-time
order across rounds. Rules read metric columns (NaN where a message did not carry the metric)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gongzhi.gateway.detection.track import FloatArray, IntArray


@dataclass(slots=True)  # (read only; not frozen: a frozen one costs more to build)
class Observations:
    local: IntArray  # slots within the type group (unique)
    ts: IntArray  # device time, ms
    # One row per observation, one column per metric (its position in ``positions``): the value,
    # NaN when absent.
    values: FloatArray
    positions: Mapping[str, int]

    def column(self, metric: str) -> FloatArray:
        j = self.positions.get(metric)
        return np.full(self.local.size, np.nan) if j is None else self.values[:, j]
