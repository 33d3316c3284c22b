"""Helpers for learned per-device state: time-aware smoothing factors and a robust update."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.track import FloatArray, IntArray


def smoothing(dt_ms: IntArray, tau_ms: float, count: IntArray) -> FloatArray:
    """EWMA factor for a gap ``dt_ms`` with time constant ``tau_ms``: a plain running mean for
    the first observations (1/count), so a fresh device learns fast, then time-aware."""
    return np.maximum(decay(dt_ms, tau_ms), 1.0 / np.maximum(count, 1))


def decay(dt_ms: IntArray, tau_ms: float) -> FloatArray:
    """The time-aware part of ``smoothing``: how much of an EWMA a gap ``dt_ms`` replaces."""
    result: FloatArray = 1.0 - np.exp(-np.maximum(dt_ms, 0) / tau_ms)  # (np.clip costs more)
    return result


def huber_step(level: FloatArray, x: FloatArray, alpha: FloatArray,
               limit: FloatArray) -> FloatArray:
    """Move ``level`` toward ``x`` by ``alpha`` of the residual clipped at ``limit``: one
    outlier moves it little, a lasting change moves it steadily."""
    result: FloatArray = level + alpha * np.clip(x - level, -limit, limit)
    return result
