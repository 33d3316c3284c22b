"""Drift against riser neighbours: pressure sensors on one riser see the same network (daily
draw-down, pump cycles, bursts), each offset by its own static head. Each sensor learns its
own long-term level; its deviation from that level is compared with the median deviation of
its fresh neighbours. Network events move every deviation together; a sensor whose deviation
wanders alone by ``DRIFT`` for ``HOLD_MS`` is drifting. Needs two fresh neighbours at least."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.groups import group_members, median_of_valid
from gongzhi.gateway.detection.learning import huber_step, smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import IDLE, AlarmTrack, IntArray

HOUR_MS = 3_600_000


class RiserDriftDetector(Stateful):
    DEVICE_STATE = ("level", "deviation", "latest_ts", "count")
    DERIVED = ("riser", "members", "_globals")  # neighbours from the new registry
    NESTED = ("track",)

    METRIC = "pressure_mpa"
    DRIFT = 0.05  # MPa (design choice: half the low-pressure alarm level)
    HOLD_MS = 30 * 60_000
    FRESH_MS = 10 * 60_000  # a neighbour's reading older than this is not compared
    TAU_MS = 7 * 24 * HOUR_MS  # the level learns over a week, so a drift is not absorbed
    WARM = 30

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.riser, self.members = group_members(
            [(r.estate_id, r.riser) if r.riser else None for r in records])
        self.level = np.zeros(n, np.float32)
        self.deviation = np.full(n, np.nan, np.float32)
        self.latest_ts = np.zeros(n, np.int64)
        self.count = np.zeros(n, np.uint16)
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def has_work(self) -> bool:
        """Whether any gauge is on a riser (``rules.has_work``)."""
        return bool((self.riser >= 0).any())

    @property
    def peer_groups(self) -> IntArray:
        """Per device, its riser (-1: none): the rule reads a riser's sensors together."""
        return self.riser

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.riser, self.level, self.deviation, self.latest_ts,
                                      self.count)) + self.track.nbytes

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.METRIC)
        usable = ~np.isnan(value) & (self.riser[obs.local] >= 0)
        slots, ts, x = obs.local[usable], obs.ts[usable], value[usable]
        if slots.size == 0:
            return []
        count = self.count[slots].astype(np.int64)
        level = np.where(count > 0, self.level[slots], x)
        deviation = x - level
        previous_ts = self.latest_ts[slots]
        self.deviation[slots], self.latest_ts[slots] = deviation, ts

        neighbours = self.members[self.riser[slots]]
        safe = np.maximum(neighbours, 0)
        valid = ((neighbours >= 0) & (neighbours != slots[:, None])
                 & (self.latest_ts[safe] >= ts[:, None] - self.FRESH_MS)
                 & (self.count[safe] >= self.WARM))
        reference, fresh = median_of_valid(self.deviation[safe].astype(np.float64), valid)
        wander = np.where(fresh >= 2, deviation - reference, 0.0)
        warm = (count >= self.WARM) & (fresh >= 2)
        breach = warm & (np.abs(wander) >= self.DRIFT)
        moves = self.track.step(slots, ts, breach, np.abs(wander) < self.DRIFT / 2,
                                self.HOLD_MS, x, np.abs(wander))

        # Learn the level from quiet readings only; a plain mean while warming up.
        quiet = (self.track.state[slots] == IDLE) & (self.track.pending[slots] < 0) & ~breach
        s = slots[quiet]
        alpha = smoothing(ts[quiet] - previous_ts[quiet], self.TAU_MS, count[quiet] + 1)
        limit = np.where(count[quiet] >= self.WARM, self.DRIFT / 5, np.inf)
        self.level[s] = huber_step(level[quiet], x[quiet], alpha, limit)
        self.count[s] = np.minimum(count[quiet] + 1, 65535)

        alarms = []
        for i, state in moves.each():
            slot, onset = int(slots[i]), int(self.track.onset[slots[i]])
            evidence = {"rule": "sensor_fault", "fault": "drift", "metric": self.METRIC,
                        "value": float(x[i]), "own_level": float(level[i]),
                        "deviation": float(deviation[i]),
                        "neighbours_deviation": float(reference[i]),
                        "neighbours": int(fresh[i]), "wander": float(wander[i]),
                        "drift": self.DRIFT, "hold_ms": self.HOLD_MS,
                        "window": {"start_ms": onset, "end_ms": int(ts[i])}}
            alarms.append(self._index.alarm(int(self._globals[slot]),
                                            AlarmKind.SENSOR_FAULT, onset, int(ts[i]),
                                            state, evidence))
        return alarms
