"""Learned per-device state's updates: the time-aware smoothing factor and a robust step.

The compiled rules take the decay over each report's gap from numpy before their loops
(``decay``: numpy's ``exp``, which the compiler's differs from in the last bit), and the rest
report by report (``smoothing``, ``huber_step``)."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import FloatArray, IntArray


def decay(dt_ms: IntArray, tau_ms: float) -> FloatArray:
    """How much of an EWMA with time constant ``tau_ms`` a gap ``dt_ms`` replaces."""
    result: FloatArray = 1.0 - np.exp(-np.maximum(dt_ms, 0) / tau_ms)  # (np.clip costs more)
    return result


def gaps(last_ts: IntArray, slots: IntArray, ts: IntArray, x: FloatArray) -> IntArray:
    """Per row reported (``x`` not NaN), the gap since its device's last report: before the
    batch (``last_ts``, left as it is), or earlier in it."""
    gap = np.zeros(slots.size, np.int64)
    _gaps(last_ts.copy(), slots, ts, x, gap)
    return gap


@compiled
def _gaps(latest: IntArray, slots: IntArray, ts: IntArray, x: FloatArray,
          gap: IntArray) -> None:
    for i in range(slots.size):
        if x[i] == x[i]:
            gap[i], latest[slots[i]] = ts[i] - latest[slots[i]], ts[i]


@compiled
def smoothing(decayed: float, count: int | np.int64) -> float:
    """An EWMA's factor for the ``count``-th observation whose gap ``decayed`` (``decay``):
    a plain running mean for the first observations (1/count), so a fresh device learns fast,
    then time-aware."""
    return max(decayed, 1.0 / max(count, 1))


@compiled
def huber_step(level: float, x: float, alpha: float, limit: float) -> float:
    """``level`` moved toward ``x`` by ``alpha`` of the residual clipped at ``limit``: one
    outlier moves it little, a lasting change moves it steadily."""
    return level + alpha * min(max(x - level, -limit), limit)
