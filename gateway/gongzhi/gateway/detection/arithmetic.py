"""numpy's arithmetic in compiled code (``compiled``), to the bit: a rule compiled from numpy
gives the same alarms as before."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import FloatArray

PAIRWISE_BLOCK = 128  # numpy sums up to this many numbers with eight accumulators


@compiled
def maximum(a: float, b: float) -> float:
    """numpy's ``maximum`` of two numbers: NaN if either is."""
    return a if a >= b or a != a else b


@compiled
def minimum(a: float, b: float) -> float:
    """numpy's ``minimum`` of two numbers: NaN if either is."""
    return a if a <= b or a != a else b


@compiled
def row_sum(a: FloatArray) -> float:
    """numpy's ``sum`` of ``a`` (at most ``PAIRWISE_BLOCK`` numbers, contiguous): in eight
    running sums from eight numbers on, added pairwise, then the rest one by one."""
    n = a.size
    if n < 8:
        total = 0.0
        for i in range(n):
            total += a[i]
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - n % 8:
        r0, r1, r2, r3 = r0 + a[i], r1 + a[i + 1], r2 + a[i + 2], r3 + a[i + 3]
        r4, r5, r6, r7 = r4 + a[i + 4], r5 + a[i + 5], r6 + a[i + 6], r7 + a[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[i]
        i += 1
    return float(0.0 + total)  # (numpy adds the sum to its identity)


@compiled
def median(values: FloatArray) -> float:
    """The median of ``values`` (NaN for none): the middle one, or the mean of the middle two,
    as numpy gives it."""
    n = values.size
    if n == 0:
        return np.nan
    ordered = np.sort(values)
    return float((ordered[(n - 1) // 2] + ordered[n // 2]) / 2)
