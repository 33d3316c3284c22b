"""One round of telemetry for a type group: at most one observation per device, in device-time
order across rounds. Rules read metric columns (NaN where a message did not carry the metric)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gongzhi.gateway.detection.track import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Observations:
    local: IntArray  # slots within the type group (unique)
    ts: IntArray  # device time, ms
    values: Mapping[str, FloatArray]  # metric -> value per observation, NaN when absent

    def column(self, metric: str) -> FloatArray:
        column = self.values.get(metric)
        return np.full(self.local.size, np.nan) if column is None else column
