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
from gongzhi.gateway.detection.arithmetic import median, row_sum
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import Float32Array, FloatArray, IntArray

BUCKET_MS = 120_000
BUCKETS = 4  # buckets of sums kept per meter (LAG + 1 at least)
NONE = np.int32(-1)
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

    def signal(self, s: IntArray, ts: IntArray, power: FloatArray,
               starts: IntArray) -> FloatArray:
        """Add each report (``power``, none NaN) to its meter's sums, round by round
        (``starts``: where each begins, and where the last ends); the signal the e-bike rule
        reads of each: a landing's corridor load (NaN while not known), else its own power."""
        out = np.empty(s.size)
        _signal_rounds(self.buckets(), (self.residual, self.residual_bucket), self.row,
                       self.members, self.LAG, s, ts, power, starts, out)
        return out


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
def _signal_rounds(buckets: BucketState, history: tuple[Float32Array, Int32Array],
                   landing_row: IntArray, members: IntArray, lag: int, s: IntArray,
                   ts: IntArray, power: FloatArray, starts: IntArray, out: FloatArray) -> None:
    """``CorridorResidual.signal``: each round's reports added first, then each landing's
    residual of the bucket ``lag`` back (its box's mean minus its households', when all of
    them reported in it) and the median of its recent residuals (at least half of them)."""
    bucket, total, count = buckets
    residual, residual_bucket = history
    recent_n = residual.shape[1]
    fed = np.empty(members.shape[1])
    recent = np.empty(recent_n)
    for r in range(starts.size - 1):
        for i in range(starts[r], starts[r + 1]):
            add_report(bucket, total, count, s[i], ts[i], power[i])
        for i in range(starts[r], starts[r + 1]):
            row = landing_row[s[i]]
            if row < 0:
                out[i] = power[i]
                continue
            b = ts[i] // BUCKET_MS - lag
            own, known = _mean(buckets, s[i], b)
            for k in range(members.shape[1]):
                fed[k] = 0.0
                if members[row, k] >= 0:
                    fed[k], fed_known = _mean(buckets, members[row, k], b)
                    known = known and fed_known
            cell = b % recent_n
            if known:
                residual[row, cell], residual_bucket[row, cell] = own - row_sum(fed), b
            n = 0
            for c in range(recent_n):
                if residual_bucket[row, c] > b - recent_n:
                    recent[n] = residual[row, c]
                    n += 1
            # Half the buckets at least, so one spoilt bucket never decides.
            out[i] = median(recent[:n]) if n * 2 >= recent_n else np.nan


@compiled
def _mean(buckets: BucketState, slot: int, b: int) -> tuple[float, bool]:
    """A meter's mean report in bucket ``b``, and whether it has one."""
    bucket, total, count = buckets
    cell = b % BUCKETS
    mean = np.float64(total[slot, cell] / np.float32(max(count[slot, cell], 1)))
    return mean, bool(bucket[slot, cell] == b and count[slot, cell] > 0)
