"""A landing's own load: its distribution box minus the households it feeds.

A landing's distribution box carries the sum of its households' circuits and the corridor's
own loads (stair lighting, and whatever is plugged in on the landing). Where the households'
circuits are monitored too, their loads are subtracted: what is left is the corridor's, quiet
and smooth, so a charger plugged in on the landing stands out even while the households cook,
run air conditioners and switch kettles. (A household's charger then shows on the household's
own circuit, once.)

The meters do not sample at the same instants, so the subtraction is of means over
``BUCKET_MS``, taken ``LAG`` buckets late (every report of that bucket has arrived), and the
result is the median of the last ``MEDIAN`` buckets: a switch that one meter saw a few seconds
before the other, or an air conditioner's swings sampled at different instants, spoil a bucket,
not the median. A landing with no monitored household, or a bucket in which one of its meters
was silent, has no residual.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.groups import median_of_valid
from gongzhi.gateway.detection.track import BoolArray, Float32Array, FloatArray, IntArray, constant

BUCKET_MS = 120_000
BUCKETS = 4  # buckets of sums kept per meter (LAG + 1 at least)
NONE = np.int32(-1)
_BUCKET_MS = constant(BUCKET_MS, np.int64)
Int32Array = np.ndarray[tuple[int, int], np.dtype[np.int32]]
UInt16Array = np.ndarray[tuple[int, int], np.dtype[np.uint16]]
# A meter's sums per bucket: ``CorridorResidual``'s bucket, total and count.
BucketState = tuple[Int32Array, Float32Array, UInt16Array]


def landing_members(records: Sequence[DeviceRecord]) -> tuple[IntArray, IntArray]:
    """For each slot: its row among the landings (-1: not a landing with monitored
    households), and per landing row the slots of its households (-1 padding)."""
    def place(r: DeviceRecord) -> tuple[str, str, str, str]:
        return (r.location.estate_id, r.location.building, r.location.unit, r.location.floor)

    households: dict[tuple[str, str, str, str], list[int]] = {}
    for slot, r in enumerate(records):
        if r.position == "household":
            households.setdefault(place(r), []).append(slot)
    row = np.full(len(records), -1, np.int64)
    fed: list[list[int]] = []
    for slot, r in enumerate(records):
        if r.position == "corridor" and place(r) in households:
            row[slot] = len(fed)
            fed.append(households[place(r)])
    width = max((len(m) for m in fed), default=1)
    members = np.full((len(fed), width), -1, np.int64)
    for i, m in enumerate(fed):
        members[i, :len(m)] = m
    return row, members


class CorridorResidual(Stateful):
    DEVICE_STATE = ("bucket", "total", "count")
    # A landing's residual is its box minus its households: history of that difference only.
    GROUP_STATE = (("residual", "landings"), ("residual_bucket", "landings"))
    DERIVED = ("row", "members")

    LAG = 2
    MEDIAN = 15

    def __init__(self, records: Sequence[DeviceRecord]) -> None:
        self.row, self.members = landing_members(records)
        # Each landing row's key: its meter and its households' meters (see ``carry``).
        ids = [r.device_id for r in records]
        self.landings = [(ids[slot], tuple(sorted(ids[m] for m in self.members[self.row[slot]]
                                                  if m >= 0)))
                         for slot in np.flatnonzero(self.row >= 0)]
        n, landings = len(records), self.members.shape[0]
        self.bucket = np.full((n, BUCKETS), NONE, np.int32)
        self.total = np.zeros((n, BUCKETS), np.float32)
        self.count = np.zeros((n, BUCKETS), np.uint16)
        self.residual = np.zeros((landings, self.MEDIAN), np.float32)
        self.residual_bucket = np.full((landings, self.MEDIAN), NONE, np.int32)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.row, self.members, self.bucket, self.total,
                                      self.count, self.residual, self.residual_bucket))

    def peer_groups(self) -> IntArray:
        """Per slot, the landing row whose residual it feeds (its box or one of its
        households), -1 for none."""
        groups = self.row.copy()
        for landing, members in enumerate(self.members):
            groups[members[members >= 0]] = landing
        return groups

    def buckets(self) -> BucketState:
        """The meters' sums per bucket, as ``add_report`` takes them."""
        return self.bucket, self.total, self.count

    def is_landing(self, s: IntArray) -> BoolArray:
        landing: BoolArray = self.row[s] >= 0
        return landing

    def observe(self, s: IntArray, ts: IntArray, power: FloatArray,
                landing: BoolArray) -> FloatArray | None:
        """Add one report per slot (``landing``: ``is_landing(s)``); return, for landings, the
        corridor's own load (NaN when not known yet), and NaN for every other slot; None when
        no slot is a landing."""
        _add_reports(self.bucket, self.total, self.count, s, ts, power)
        if not np.count_nonzero(landing):
            return None
        out = np.full(s.size, np.nan)
        at = np.flatnonzero(landing)
        bucket = (ts[at] // _BUCKET_MS).astype(np.int32)
        out[at] = self._landings(s[at], bucket - self.LAG)
        return out

    def _landings(self, s: IntArray, bucket: np.ndarray) -> FloatArray:
        row = self.row[s]
        own, own_known = self._mean(s[:, None], bucket[:, None])
        members = self.members[row]
        fed, fed_known = self._mean(np.maximum(members, 0), bucket[:, None])
        present = members >= 0
        known = own_known[:, 0] & (fed_known | ~present).all(axis=1)
        value = own[:, 0] - np.where(present, fed, 0.0).sum(axis=1)
        k = bucket % self.MEDIAN
        self.residual[row[known], k[known]] = value[known]
        self.residual_bucket[row[known], k[known]] = bucket[known]
        recent = self.residual_bucket[row] > (bucket - self.MEDIAN)[:, None]
        median, count = median_of_valid(self.residual[row].astype(np.float64), recent)
        # Half the buckets at least, so one spoilt bucket never decides.
        return np.where(count * 2 >= self.MEDIAN, median, np.nan)

    def _mean(self, slots: IntArray, bucket: np.ndarray) -> tuple[FloatArray, np.ndarray]:
        pos = bucket % BUCKETS
        known = (self.bucket[slots, pos] == bucket) & (self.count[slots, pos] > 0)
        mean = self.total[slots, pos] / np.maximum(self.count[slots, pos], 1)
        return mean.astype(np.float64), known


@compiled
def add_report(bucket: Int32Array, total: Float32Array, count: UInt16Array, slot: int,
               ts: int, power: float) -> None:
    """Add a report to its meter's sums of its bucket (``CorridorResidual.buckets()``)."""
    b = ts // BUCKET_MS
    cell = b % BUCKETS
    if bucket[slot, cell] != b:
        bucket[slot, cell], total[slot, cell], count[slot, cell] = b, power, 1
    else:
        total[slot, cell] = float(total[slot, cell]) + power
        count[slot, cell] += 1


@compiled
def _add_reports(bucket: Int32Array, total: Float32Array, count: UInt16Array, s: IntArray,
                 ts: IntArray, power: FloatArray) -> None:
    for i in range(s.size):
        add_report(bucket, total, count, s[i], ts[i], power[i])
