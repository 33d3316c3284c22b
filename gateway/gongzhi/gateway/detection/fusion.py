"""Fire fusion over smoke detectors. One detector's smoke alarm stays a ``smoke_alarm``; a
``fire`` needs confirmation: a second detector of the same household, or of the same floor of a
unit where one of the two is of no household (the landing's: a flat's smoke reaches its landing
before any other flat), within ``fire_window_ms``; or smoke together with a heat rise on the
detector. A short cooking spike never holds long enough for the smoke threshold, so it raises
neither; cooking smoke that holds is smoke to a detector, but two households' on one floor are
two kitchens, not a fire (a registry without households takes any two of a floor, as before).

A fire is latched (people resolve it, no CLEAR); further confirmations on the same floor while
smoke continues fold into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.groups import group_members
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import Float32Array, FloatArray, IntArray
from gongzhi.gateway.detection.window import WindowMax, window_add, window_peak

NEVER = np.iinfo(np.int64).min // 2


class FireFusion(Stateful):
    DEVICE_STATE = ("last_smoke", "smoke_since", "last_heat", "rise")
    # A fire under way is the floor's, whoever its detectors are now: keyed by the place.
    GROUP_STATE = (("fire_last", "floors"),)
    DERIVED = ("threshold", "household", "household_members", "floor", "floor_members",
               "_globals")
    NESTED = ("coolest",)

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray, index: DeviceIndex,
                 smoke_threshold: np.ndarray, config: DetectionConfig) -> None:
        self._records, self._globals, self._index, self._config = records, globals_, index, config
        self.threshold = smoke_threshold
        n = len(records)
        self.household, self.household_members = group_members(
            [(r.estate_id, r.household) if r.household else None for r in records])
        floors = [(r.estate_id, r.location.building, r.location.unit, r.location.floor)
                  for r in records]
        self.floor, self.floor_members = group_members(floors)
        self.floors = list(dict.fromkeys(floors))  # the key of each floor id, in id order
        self.last_smoke = np.full(n, NEVER, np.int64)
        self.smoke_since = np.full(n, NEVER, np.int64)  # when the current indication began
        self.last_heat = np.full(n, NEVER, np.int64)
        self.rise = np.zeros(n, np.float32)
        self.coolest = WindowMax(n, config.heat_window_ms)  # of -temperature
        self.fire_last = np.full(self.floor_members.shape[0], NEVER, np.int64)

    @property
    def peer_groups(self) -> IntArray:
        """Per device, its floor: fusion reads a floor's detectors together."""
        return self.floor

    @property
    def nbytes(self) -> int:
        return (self.last_smoke.nbytes + self.smoke_since.nbytes + self.last_heat.nbytes
                + self.rise.nbytes + self.coolest.nbytes + self.household.nbytes + self.floor.nbytes
                + self.fire_last.nbytes)

    def observe(self, obs: Observations) -> list[Alarm]:
        """Telemetry: keep smoke indications alive while the smoke lasts, and watch heat."""
        return [alarm for _, alarm in self.observe_rows(obs, 0, obs.local.size)]

    def observe_rows(self, obs: Observations, start: int, stop: int) -> list[tuple[int, Alarm]]:
        """``observe`` over rows ``start`` to ``stop`` of ``obs``, in order (the rounds of a
        batch between two with a smoke alarm: ``group.TypeGroup``): each fire with its row."""
        smoke = np.ascontiguousarray(obs.column("smoke_db_m"))
        temp = np.ascontiguousarray(obs.column("temp_c"))
        c = self._config
        found: list[tuple[int, Alarm]] = []
        at = start
        while at < stop:
            at, heat = _fusion_rows(
                (self.last_smoke, self.last_heat, self.rise),
                self.coolest.arrays(), self.coolest.width, self.threshold,
                c.fire_window_ms, c.heat_rise_c, c.heat_abs_c, obs.local, obs.ts, smoke, temp,
                at, stop)
            if heat:  # smoke and heat on one detector
                slot = int(obs.local[at - 1])
                found += [(at - 1, alarm) for alarm in
                          self._confirm(slot, int(obs.ts[at - 1]), "smoke_and_heat", [slot])]
        return found

    def smoke_indicated(self, slot: int, ts: int) -> list[Alarm]:
        """A smoke alarm was raised on ``slot`` (its own event or the smoke threshold)."""
        since = ts - self._config.fire_window_ms
        if self.last_smoke[slot] < since:  # a new indication, not one kept alive
            self.smoke_since[slot] = ts
        self.last_smoke[slot] = max(int(self.last_smoke[slot]), ts)
        for gid, members in ((self.household, self.household_members),
                             (self.floor, self.floor_members)):
            if gid[slot] < 0:
                continue
            group = members[gid[slot]]
            group = group[group >= 0]
            smoking = group[self.last_smoke[group] >= since]
            if smoking.size >= 2 and (gid is self.household or self._shared(smoking)):
                return self._confirm(slot, ts, "two_detectors", [int(s) for s in smoking])
        if self.last_heat[slot] >= since:
            return self._confirm(slot, ts, "smoke_and_heat", [slot])
        return []

    def _shared(self, smoking: IntArray) -> bool:
        """Whether a floor's smoking detectors can be one fire's: one of them is of no
        household (the landing, the stairs), where a household's fire goes first. Two
        households' detectors alone are two kitchens, each its own smoke."""
        return bool((self.household[smoking] < 0).any())

    def _confirm(self, slot: int, ts: int, cause: str, detectors: list[int]) -> list[Alarm]:
        floor = int(self.floor[slot])
        ongoing = self.fire_last[floor] >= ts - self._config.fire_window_ms
        self.fire_last[floor] = ts
        if ongoing:
            return []
        # The fire began when the first of its detectors began to indicate smoke.
        first = min(detectors, key=lambda s: int(self.smoke_since[s]))
        onset = int(self.smoke_since[detectors].min())
        evidence: dict[str, Any] = {
            "rule": "fire_fusion", "cause": cause,
            "detectors": [self._records[s].device_id for s in detectors],
            "window_ms": self._config.fire_window_ms,
            "window": {"start_ms": onset, "end_ms": ts},
        }
        if cause == "smoke_and_heat":
            evidence.update(temp_rise_c=float(self.rise[slot]),
                            heat_rise_c=self._config.heat_rise_c,
                            heat_abs_c=self._config.heat_abs_c)
        return [self._index.alarm(int(self._globals[first]), AlarmKind.FIRE, onset, ts,
                                  AlarmState.RAISE, evidence)]


@compiled
def _fusion_rows(detectors: tuple[IntArray, IntArray, Float32Array],
                 coolest: tuple[Float32Array, IntArray], width: int, threshold: FloatArray,
                 window_ms: int, heat_rise_c: float, heat_abs_c: float, slots: IntArray,
                 ts: IntArray, smoke: FloatArray, temp: FloatArray, start: int,
                 stop: int) -> tuple[int, bool]:
    """Rows ``start`` to ``stop`` (NaN: not reported): a smoke indication kept alive while the
    smoke lasts, and the heat watched (its rise over the window's coolest reading), until a
    detector indicating smoke is hot: the row after it and whether one was (the row after the
    last, False, when none)."""
    last_smoke, last_heat, rise = detectors
    value, bucket = coolest
    for i in range(start, stop):
        j, t = slots[i], ts[i]
        if smoke[i] >= threshold[j] and last_smoke[j] >= t - window_ms:
            last_smoke[j] = t
        if temp[i] != temp[i]:
            continue
        window_add(value, bucket, width, j, t, -temp[i])
        rose = temp[i] + window_peak(value, bucket, width, j, t)  # (the peak of -temperature)
        if rose >= heat_rise_c or temp[i] >= heat_abs_c:
            last_heat[j], rise[j] = t, rose
            if last_smoke[j] >= t - window_ms:
                return i + 1, True
    return stop, False
