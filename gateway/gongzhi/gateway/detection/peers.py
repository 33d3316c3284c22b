"""Devices whose reports a rule reads together: a floor's smoke detectors (fire fusion), a
landing's box and its households (the corridor's own load), a riser's pressure sensors (drift).
(The welfare rule reads a household's meters together too: ``DetectionEngine.read_together``
adds them.) Every other rule reads each device's reports alone, in that device's order, so only
these devices' reports must reach the engine in time order across devices (``backtest.replay``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gongzhi.gateway.detection.track import IntArray


def components(size: int, groupings: Iterable[tuple[IntArray, IntArray]]) -> IntArray:
    """Per slot of ``size``, the id of its component (-1: read alone): slots in one group of any
    grouping are in one component. A grouping is (the slots, each one's group id, -1 for none)."""
    parent = list(range(size))

    def root(slot: int) -> int:
        while parent[slot] != slot:
            parent[slot] = parent[parent[slot]]
            slot = parent[slot]
        return slot

    grouped = np.zeros(size, np.bool_)
    for slots, groups in groupings:
        first: dict[int, int] = {}
        for slot, group in zip(slots.tolist(), groups.tolist(), strict=True):
            if group < 0:
                continue
            grouped[slot] = True
            other = first.setdefault(group, slot)
            parent[root(slot)] = root(other)
    roots = np.array([root(s) for s in range(size)], np.int64)
    out = np.full(size, -1, np.int64)
    if grouped.any():
        _, out[grouped] = np.unique(roots[grouped], return_inverse=True)
    return out
