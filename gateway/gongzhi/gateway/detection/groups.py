"""Groups of devices (a household, a floor, a riser) as padded member matrices, so a rule can
gather a whole group's state for many observations in one indexing step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.gateway.detection.track import IntArray


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
