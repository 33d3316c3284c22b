"""How a replay's rows reach the engine.

The gateway hands its engine whatever has arrived, and ticks it about once a second. Its
telemetry rules keep each device's state apart and take a batch in rounds (the k-th row of every
device in round k), so a batch gives the alarms of its rows one by one (``detection.group``);
presence (devices falling silent, coming back, clusters of a building) runs on received time
with the ticks, and nothing of either reads the other. The replay therefore runs them apart:
- **the rules** (``ranks``, ``windows``): every row in a round across all devices, whatever its
  time: a device's k-th row in round k, so many devices make rounds of many rows, even when they
  report at scattered seconds or in different months. Devices some rule reads together
  (``DetectionEngine.read_together``: a floor's smoke detectors, a landing's circuits, a
  riser's sensors, a household's meters for welfare) take their rows second by second, each
  second in the rounds a batch of that second alone would give it, in time order;
- **presence** (``Seconds``): the rows one second of data at a time, as the gateway sees them,
  with the ticks between; consecutive seconds together where no tick falls among them and no
  device among them comes back from offline (a return is judged at its row, with its building).
Both give the alarms of one batch a second (tests/detection/test_backtest_batches.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import numpy as np

from gongzhi.gateway.detection.group import occurrence
from gongzhi.gateway.detection.track import BoolArray, IntArray

TICK_MS = 1_000  # the gateway ticks detection about once a second (service.TICK_S)
MAX_ROWS = 4_096  # rows of a batch, where rounds allow


def ranks(slots: IntArray, ts: IntArray, together: IntArray) -> IntArray:
    """Each row's round (rows in time order; ``together``: per device slot, its component of
    devices read together, -1 for none). A device read alone: its k-th row in round k. A
    component: second by second, each second in as many rounds as its batch of one second would
    have (a device's k-th row of that second in the second's k-th), after the rounds of the
    component's earlier seconds."""
    rank = occurrence(slots)  # read alone: arrival order
    component = together[slots]
    rows = np.flatnonzero(component >= 0)
    if rows.size == 0:
        return rank
    second = ts[rows] // TICK_MS
    second -= second[0]
    span = int(second[-1]) + 1
    comp = component[rows]
    within = occurrence(slots[rows] * span + second)  # a device's k-th row in the second
    group = np.unique(comp * span + second, return_inverse=True)[1]  # by component, second
    width = np.zeros(int(group.max()) + 1, np.int64)
    np.maximum.at(width, group, within + 1)
    before = np.cumsum(width) - width  # rounds of every earlier group
    group_comp = np.zeros(width.size, np.int64)
    group_comp[group] = comp
    starts = np.r_[True, group_comp[1:] != group_comp[:-1]]  # a component's first second
    offset = before - before[starts][np.cumsum(starts) - 1]  # its earlier seconds' rounds
    rank[rows] = offset[group] + within
    return rank


def windows(ordered_rank: IntArray, max_rows: int | None = None) -> list[tuple[int, int]]:
    """Consecutive whole rounds of ``ordered_rank`` (each row's round, in order) as slices of
    ``max_rows`` rows at most (a round larger than that alone)."""
    limit = MAX_ROWS if max_rows is None else max_rows
    if ordered_rank.size == 0:
        return []
    ends = np.flatnonzero(np.r_[ordered_rank[1:] != ordered_rank[:-1], True]) + 1
    out: list[tuple[int, int]] = []
    lo = 0
    while lo < ordered_rank.size:
        # the last round end within the limit, at least the first round's
        k = int(np.searchsorted(ends, lo + limit, "right")) - 1
        hi = int(ends[k]) if k >= 0 and ends[k] > lo else \
            int(ends[np.searchsorted(ends, lo, "right")])
        out.append((lo, hi))
        lo = hi
    return out


@overload
def tick_after(due_ms: int) -> int: ...
@overload
def tick_after(due_ms: IntArray) -> IntArray: ...
def tick_after(due_ms: IntArray | int) -> IntArray | int:
    """The first whole second after ``due_ms``: the tick that sees what happened then (a
    device's silence passing its limit, a batch of data)."""
    return due_ms // TICK_MS * TICK_MS + TICK_MS


def silence_ticks(slots: IntArray, ts: IntArray, limits: IntArray, first_rows: int) -> IntArray:
    """The ticks (ms, sorted) at which some device may fall silent past its limit (``limits``,
    per device slot): the replay's rows in time order, the first tick after the first
    ``first_rows`` (a device not heard of by then is silent from it). A gap in a device's rows
    gives the tick on the second after its last report plus its limit, when that comes before
    the second of its next report (presence's ticks are then run between them); the last report
    gives one too. Every tick the replay runs is among them (with some that it need not run)."""
    if ts.size == 0:
        return np.zeros(0, np.int64)
    first_tick = tick_after(int(ts[0]))
    last = np.full(limits.size, first_tick, np.int64)
    last[slots[:first_rows]] = ts[:first_rows]  # in time order: the last write is the newest
    order = np.argsort(slots[first_rows:], kind="stable")
    device, when = slots[first_rows:][order], ts[first_rows:][order]
    before = np.empty_like(when)  # each report's previous one
    if when.size:
        first = np.r_[True, device[1:] != device[:-1]]
        before[1:] = when[:-1]
        before[first] = last[device[first]]
    tick = tick_after(before + limits[device])
    last[device] = when  # by device, in time order: each one's last report
    after_last = tick_after(last + limits)
    return np.unique(np.concatenate([tick[tick <= when // TICK_MS * TICK_MS], after_last]))


class Seconds:
    """The rows (in time order) cut into seconds: second ``i`` is rows
    ``starts[i]:ends[i]``."""

    def __init__(self, slots: IntArray, ts: IntArray) -> None:
        second = ts // TICK_MS
        bounds = np.flatnonzero(np.diff(second)) + 1
        self.starts: IntArray = np.concatenate(([0], bounds)).astype(np.int64)
        self.ends: IntArray = np.concatenate((bounds, [ts.size])).astype(np.int64)
        self.seconds: IntArray = second[self.starts]
        self._slots = slots

    def merged_end(self, i: int, next_tick_ms: int | None,
                   offline: Callable[[IntArray], BoolArray]) -> int:
        """The second after the last one that goes with second ``i`` (at least ``i + 1``):
        before the next tick (no tick comes before ``next_tick_ms``; None: none comes), before
        the first second with a row of a device ``offline`` now, at most ``MAX_ROWS`` rows."""
        lo = int(self.starts[i])
        end = int(np.searchsorted(self.ends, lo + MAX_ROWS, "right"))
        if next_tick_ms is not None:  # rows of a second s with (s + 1) x 1 s <= tick precede it
            end = min(end, int(np.searchsorted(self.seconds, next_tick_ms // TICK_MS - 1,
                                               "right")))
        if end <= i + 1:
            return i + 1
        away = np.flatnonzero(offline(self._slots[lo:int(self.ends[end - 1])]))
        if away.size:
            if lo + int(away[0]) < int(self.ends[i]):
                return i + 1
            end = min(end, int(np.searchsorted(self.starts, lo + int(away[0]), "right")) - 1)
        return max(end, i + 1)

