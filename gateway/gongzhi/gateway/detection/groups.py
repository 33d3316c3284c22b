"""Groups of devices (a household, a floor, a riser) as padded member matrices, so a rule can
gather a whole group's state for many observations in one indexing step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.gateway.detection.track import FloatArray, IntArray


def group_members(keys: Sequence[object | None]) -> tuple[IntArray, IntArray]:
    """Group id per slot (-1 for no key) and a padded member matrix (-1 padding)."""
    ids: dict[object, int] = {}
    gid = np.array([-1 if k is None else ids.setdefault(k, len(ids)) for k in keys], np.int64)
    counts = np.bincount(gid[gid >= 0], minlength=len(ids))
    members = np.full((len(ids), int(counts.max(initial=1))), -1, np.int64)
    fill = np.zeros(len(ids), np.int64)
    for slot, g in enumerate(gid):
        if g >= 0:
            members[g, fill[g]] = slot
            fill[g] += 1
    return gid, members


def median_of_valid(values: FloatArray, valid: np.ndarray) -> tuple[FloatArray, IntArray]:
    """Row-wise median over the ``valid`` entries (NaN where a row has none) and the counts."""
    count = valid.sum(axis=1)
    ordered = np.sort(np.where(valid, values, np.inf), axis=1)
    rows = np.arange(values.shape[0])
    lo = ordered[rows, np.maximum(count - 1, 0) // 2]
    hi = np.where(count > 0, ordered[rows, np.minimum(count // 2, values.shape[1] - 1)], np.nan)
    median: FloatArray = np.where(count > 0, (lo + hi) / 2, np.nan)
    return median, count
