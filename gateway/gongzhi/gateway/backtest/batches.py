"""Which rows of a replay reach the engine together.

The gateway hands its engine whatever has arrived; the replay starts from the rows of one second
of data, as a gateway ticking once a second would see them. The engine's telemetry rules keep
each device's state apart and take a batch in rounds, the k-th row of every device in round k,
so a batch gives the alarms of its rows one by one (``detection.group``). Consecutive seconds
therefore go to the engine as one batch, which is many times cheaper when many devices report at
scattered seconds, as long as the order that matters is kept:
- no tick falls among them (a device's silence passing its offline limit);
- no device among them is offline: its return is judged at its first row, with its building;
- devices some rule reads together (``DetectionEngine.peer_groups``: a floor's smoke detectors,
  a landing's circuits, a riser's sensors) take their rows second by second, in the rounds
  they would have had in batches of one second (``Seconds.ranks``); every other device takes
  its rows in arrival order;
- at most ``MAX_ROWS`` rows.
Whatever the batches, the alarms are the same (tests/detection/test_backtest_batches.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gongzhi.gateway.detection.track import BoolArray, IntArray

TICK_MS = 1_000  # the gateway ticks detection about once a second (service.TICK_S)
MAX_ROWS = 4_096


class Seconds:
    """The rows (in time order) cut into seconds: second ``i`` is rows
    ``starts[i]:ends[i]``. ``peers``: per device slot, the component of devices read together
    (-1: read alone), or None when every second must be a batch of its own. ``alone``: every
    second is a batch of its own (so also for one device: its rounds hold one row anyway)."""

    def __init__(self, slots: IntArray, ts: IntArray, peers: IntArray | None) -> None:
        second = ts // TICK_MS
        bounds = np.flatnonzero(np.diff(second)) + 1
        self.starts: IntArray = np.concatenate(([0], bounds)).astype(np.int64)
        self.ends: IntArray = np.concatenate((bounds, [ts.size])).astype(np.int64)
        self.seconds: IntArray = second[self.starts]
        self._second, self._slots = second, slots
        self._peer = None if peers is None else peers[slots]
        self.alone = peers is None or slots.size == 0 or \
            bool(np.all(slots == slots[0]))  # one device: every round would be one row anyway

    def __len__(self) -> int:
        return int(self.starts.size)

    def merged_end(self, i: int, next_tick_ms: int | None,
                   offline: Callable[[IntArray], BoolArray]) -> int:
        """The second after the last one that goes to the engine with second ``i`` (at least
        ``i + 1``). ``next_tick_ms``: the first tick due before any of these rows is seen (None:
        none); ``offline``: which of some device slots are offline now."""
        if self.alone:
            return i + 1
        lo = int(self.starts[i])
        end = int(np.searchsorted(self.ends, lo + MAX_ROWS, "right"))
        if next_tick_ms is not None:  # rows of a second s with (s + 1) x 1 s <= tick precede it
            end = min(end, int(np.searchsorted(self.seconds, next_tick_ms // TICK_MS - 1,
                                               "right")))
        if end <= i + 1:
            return i + 1
        hi = int(self.ends[end - 1])
        away = np.flatnonzero(offline(self._slots[lo:hi]))
        if away.size:
            if lo + int(away[0]) < int(self.ends[i]):
                return i + 1
            end = min(end, self._second_of(lo + int(away[0])))
        return max(end, i + 1)

    def ranks(self, i: int, j: int) -> IntArray | None:
        """Each row's round in the batch of seconds ``i:j``, where devices read together need
        rounds of their own (None: every device's rows in arrival order will do). A device read
        alone: its k-th row in round k. A component read together: second by second, each
        second in as many rounds as its batch of one second would have (a device's k-th row of
        that second in its k-th), after the rounds of the component's earlier seconds."""
        if self._peer is None or j <= i + 1:
            return None
        lo, hi = int(self.starts[i]), int(self.ends[j - 1])
        peer = self._peer[lo:hi]
        together = peer >= 0
        if not together.any():
            return None
        slots = self._slots[lo:hi]
        second = self._second[lo:hi] - self._second[lo]
        span = int(second[-1]) + 1
        rank = _occurrence(slots)  # read alone: arrival order
        rows = np.flatnonzero(together)
        sec, comp = second[rows], peer[rows]
        within = _occurrence(slots[rows] * span + sec)  # the device's k-th row in the second
        group = np.unique(comp * span + sec, return_inverse=True)[1]  # sorted: by comp, second
        width = np.zeros(int(group.max()) + 1, np.int64)
        np.maximum.at(width, group, within + 1)
        before = np.cumsum(width) - width  # rounds of every earlier group
        group_comp = np.zeros(width.size, np.int64)
        group_comp[group] = comp
        starts = np.r_[True, group_comp[1:] != group_comp[:-1]]  # a component's first second
        offset = before - before[starts][np.cumsum(starts) - 1]  # its earlier seconds' rounds
        rank[rows] = offset[group] + within
        return rank

    def _second_of(self, row: int) -> int:
        return int(np.searchsorted(self.starts, row, "right")) - 1


def _occurrence(keys: IntArray) -> IntArray:
    """For each position, how many earlier positions hold the same key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new)
    out = np.empty(keys.size, np.int64)
    out[order] = np.arange(keys.size) - starts[np.cumsum(new) - 1]
    return out
