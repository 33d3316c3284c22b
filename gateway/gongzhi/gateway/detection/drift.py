"""Drift against riser neighbours: pressure sensors on one riser see the same network (daily
draw-down, pump cycles, bursts), each offset by its own static head. Each sensor learns its
own long-term level; its deviation from that level is compared with the median deviation of
its fresh neighbours. Network events move every deviation together; a sensor whose deviation
wanders alone by ``DRIFT`` for ``HOLD_MS`` is drifting. Needs two fresh neighbours at least."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.arithmetic import median
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.groups import group_members
from gongzhi.gateway.detection.learning import decay, gaps, huber_step, smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    CLEARED,
    IDLE,
    RAISED,
    AlarmTrack,
    Float32Array,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    TrackState,
    advance,
    at_rest,
)

HOUR_MS = 3_600_000


class RiserDriftDetector(ObservesMoves, Stateful):
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

    takes_rounds = True  # a batch's rounds in one call, round by round (``rules.takes_rounds``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        x = np.ascontiguousarray(obs.column(self.METRIC))
        # The learning's decay over the gap since the device's last report (from the reports
        # alone): numpy's exp, not the compiler's (they differ in the last bit). (Rows of gauges
        # on no riser get one too, never read.)
        learn = decay(gaps(self.latest_ts, slots, ts, x), self.TAU_MS)
        # Per row: own level, deviation, the neighbours' median deviation, how many, wander;
        # and the alarm's move and onset.
        seen = np.zeros((5, slots.size))
        moves = np.zeros(slots.size, np.int8)
        onset = np.zeros(slots.size, np.int64)
        _drift_rounds(self.track.arrays(), self.track.clear_hold_ms,
                      (self.level, self.deviation, self.latest_ts, self.count), self.riser,
                      self.members, (self.FRESH_MS, self.WARM, self.HOLD_MS), self.DRIFT, slots,
                      ts, x, obs.round_starts(), learn, seen, moves, onset)
        found: list[Move] = []
        for move in (RAISED, CLEARED):
            for i in np.flatnonzero(moves == move).tolist():
                state = AlarmState.RAISE if move == RAISED else AlarmState.CLEAR
                found.append((i, state, self._alarm(i, int(slots[i]), int(ts[i]), float(x[i]),
                                                    seen[:, i].tolist(), int(onset[i]), state)))
        return found

    def _alarm(self, row: int, slot: int, ts: int, value: float, seen: list[float],
               onset: int, state: AlarmState) -> Alarm:
        own_level, deviation, reference, fresh, wander = seen
        evidence = {"rule": "sensor_fault", "fault": "drift", "metric": self.METRIC,
                    "value": value, "own_level": own_level, "deviation": deviation,
                    "neighbours_deviation": reference, "neighbours": int(fresh),
                    "wander": wander, "drift": self.DRIFT, "hold_ms": self.HOLD_MS,
                    "window": {"start_ms": onset, "end_ms": ts}}
        return self._index.alarm(int(self._globals[slot]), AlarmKind.SENSOR_FAULT, onset, ts,
                                 state, evidence)


@compiled
def _drift_rounds(track: TrackState, clear_hold_ms: int,
                  state: tuple[Float32Array, Float32Array, IntArray, npt.NDArray[np.uint16]],
                  riser: IntArray, members: IntArray, times: tuple[int, int, int],
                  drift: float, slots: IntArray, ts: IntArray, x: FloatArray,
                  starts: IntArray, learn: FloatArray, seen: FloatArray,
                  moves: npt.NDArray[np.int8], onset: IntArray) -> None:
    """Each round (rows ``starts[r]`` to ``starts[r + 1]``) as numpy took it at once: every
    reading's deviation from its gauge's level first, then each against its fresh neighbours'
    median (theirs of this round included, their counts before it), then the alarm and the
    learning (``seen``, ``moves``, ``onset``: per row, for the evidence)."""
    level, deviation, latest_ts, count = state
    fresh_ms, warm, hold_ms = times
    alarm_state, pending, alarm_onset = track[0], track[1], track[2]
    values = np.empty(members.shape[1])
    for r in range(starts.size - 1):
        a, b = starts[r], starts[r + 1]
        for i in range(a, b):
            j = slots[i]
            if x[i] != x[i] or riser[j] < 0:
                continue
            usual = np.float64(level[j]) if count[j] > 0 else x[i]
            seen[0, i], seen[1, i] = usual, x[i] - usual
            deviation[j], latest_ts[j] = seen[1, i], ts[i]
        for i in range(a, b):
            j = slots[i]
            if x[i] != x[i] or riser[j] < 0:
                continue
            fresh = 0
            for nb in members[riser[j]]:
                if (nb >= 0 and nb != j and latest_ts[nb] >= ts[i] - fresh_ms
                        and count[nb] >= warm):
                    values[fresh] = deviation[nb]
                    fresh += 1
            seen[2, i] = median(values[:fresh])
            seen[3, i] = fresh
            seen[4, i] = seen[1, i] - seen[2, i] if fresh >= 2 else 0.0
        for i in range(a, b):
            j = slots[i]
            if x[i] != x[i] or riser[j] < 0:
                continue
            seen_count, wander = np.int64(count[j]), seen[4, i]
            breach = bool(seen_count >= warm and seen[3, i] >= 2 and abs(wander) >= drift)
            if not at_rest(alarm_state[j], pending[j], breach):
                moves[i] = advance(track, clear_hold_ms, j, ts[i], breach,
                                   bool(abs(wander) < drift / 2), hold_ms, x[i], abs(wander))
                onset[i] = alarm_onset[j]
            # Learn the level from quiet readings only; a plain mean while warming up.
            if alarm_state[j] == IDLE and pending[j] < 0 and not breach:
                limit = drift / 5 if seen_count >= warm else np.inf
                level[j] = np.float32(huber_step(seen[0, i], x[i],
                                                 smoothing(learn[i], seen_count + 1), limit))
                count[j] = seen_count + 1 if seen_count < 65535 else seen_count
