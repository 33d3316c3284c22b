"""E-bike charging from the load signature on a household or corridor circuit (docs/domain.md): a
step of 100-400 W held for hours at constant current (flat, creeping up with the battery's
voltage), then constant voltage (the draw tapers away). The alarm needs the whole signature: a
plateau held at least ``CC_MIN_MS``, then a gradual fall to half of it. The ticket asks for a
follow-up within days, not a dash up the stairs, so it waits for the proof: it comes in the
taper's first half hour, three to five hours after the charger was plugged in.

The signature is read on the circuit's floor (``loadfloor``), where short appliances do not
show, and on a landing's distribution box on the corridor's own load (``corridor``: the box
minus its monitored households), where the households' cooking and air conditioning do not
show. What else steps the floor, and why it is not a charger:
- air conditioning: a larger step (360 W and more at its lowest) that makes the circuit rough
  (the compressor's swings); no candidate starts on a step that brought roughness;
- cooking, water heaters: larger steps, held for minutes;
- a television or an appliance held for a while: switched off in one step, no taper;
- a fridge: a step for a quarter of an hour;
- a large load switched on under an air conditioner: its floor arrives in parts as the window
  slides past the compressor's swings, and the first part may be charger-sized; the rest comes
  within minutes and ends the candidate;
- a load switched off in one step, or a fall faster than ``CV_MIN_MS``: a switch, not a taper.

A candidate keeps the floor it stands on (``ref``). While it lasts, switches of the floor (see
``LoadFloor.JUMP_W``) are other loads going on and off over it (an air conditioner, a cooker)
and move ``ref``, unless the floor falls by the candidate's own size back to the quiet floor:
the candidate was switched off. Gradual changes are the candidate's own: the plateau's creep
and the taper. A charger whose step hid in other loads' steps is picked up later, when the floor
stands in the band above the day's quiet floor with the circuit smooth. Each stage's rules are
with its code below.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.corridor import CorridorResidual
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.loadfloor import LoadFloor, LoadView
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import AlarmTrack, BoolArray, FloatArray, IntArray

MINUTE_MS = 60_000
IDLE, CC, CV = 0, 1, 2


class EbikeChargingDetector(Stateful):
    DEVICE_STATE = ("phase", "recognised", "ref", "level", "cv_top", "cv_entry", "cv_low",
                    "step_ms", "seen_ms", "cv_ms", "off_ms", "absorbed_ms", "last_power",
                    "cv_start", "cv_glide", "cv_glide_sq", "cv_cross", "cv_prev", "cv_moves",
                    "cv_jumps")
    DERIVED = ("_globals",)
    NESTED = ("corridor", "load", "track")

    METRIC = "power_w"
    STEP_MIN_W, STEP_MAX_W = 90.0, 450.0  # 100-400 W with meter tolerance
    LEVEL_MAX_W = 1.1 * STEP_MAX_W  # a plateau that crept past this is not a charger's
    CALM_MS = 10 * MINUTE_MS  # a step counts when the floor held still this long before it
    SMOOTH_W = 30.0  # roughness of a circuit with nothing rough on it
    ROUGH_TOL_W, ROUGH_TOL_SHARE = 20.0, 0.2  # roughness a step may bring and be smooth
    STEP_OVER_ROUGH = 1.5  # under a rough load a step must stand this far out of the wander
    TOL_W, TOL_SHARE = 35.0, 0.15  # the plateau's band around its level
    LEVEL_UP_MS = 20 * MINUTE_MS  # how fast the level follows the plateau's creep
    YOUNG_MS = 5 * MINUTE_MS  # a step may reach the floor in parts
    SETTLE_MS = 2 * MINUTE_MS  # after another load's switch the floor settles
    CC_MIN_MS = 45 * MINUTE_MS
    OWN_FALL_SHARE = 0.2  # after CC_MIN_MS, a fall this small is the taper, not a switch
    TAPER_SHARE = 0.5  # the taper falls to half the plateau,
    CV_MIN_MS = 5 * MINUTE_MS  # not faster than this (a switch, not a taper),
    # and by this share of the plateau (at least TAPER_MIN_W) since another load last switched:
    # a fall pieced together across switches may be their errors.
    CLEAN_TAPER_SHARE, TAPER_MIN_W = 0.15, 25.0
    RISE_TOL_SHARE, RISE_TOL_W = 0.10, 25.0  # a taper does not climb back
    FINISHED_SHARE = 0.1
    # The taper is the charger's own draw gliding down: seen in the raw reports as small falls,
    # not as another load's switch. Since the taper began, the reports' small changes (at most
    # GLIDE_STEP_SHARE of the plateau a minute, or LoadFloor.JUMP_W) must add up to at least
    # GLIDE_SHARE of the taper's fall and stand GLIDE_T times out of their spread (``_glide``).
    GLIDE_STEP_SHARE = 0.15
    GLIDE_SHARE = 0.5
    HIDDEN_SHARE = 0.8
    GLIDE_MOVES, GLIDE_T = 5, 4.0
    GLIDE_VAR_MIN = 1.0  # W^2: a meter's resolution
    GRACE_MS = 10 * MINUTE_MS  # off the plateau's band this long ends a candidate
    MAX_MS = 14 * 60 * MINUTE_MS  # no charge lasts longer: something else

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.corridor = CorridorResidual(records)
        self.load = LoadFloor(n)
        self.phase = np.zeros(n, np.int8)
        self.recognised = np.zeros(n, np.bool_)
        self.ref = np.zeros(n, np.float32)  # the floor the candidate stands on
        self.level = np.zeros(n, np.float32)  # the plateau
        self.cv_top = np.zeros(n, np.float32)  # the plateau when the taper began
        self.cv_entry = np.zeros(n, np.float32)  # the taper since another load's last switch
        self.cv_low = np.zeros(n, np.float32)  # the lowest of the taper
        self.step_ms = np.zeros(n, np.int64)  # the step (a floor window before it showed)
        self.seen_ms = np.zeros(n, np.int64)  # when the candidate began
        self.cv_ms = np.zeros(n, np.int64)
        self.off_ms = np.zeros(n, np.int64)  # since when off the plateau's band; 0: not
        self.absorbed_ms = np.zeros(n, np.int64)  # another load's last switch
        self.last_power = np.full(n, np.nan, np.float32)  # the previous report's power
        self.cv_start = np.zeros(n, np.float32)  # the extra when the taper began
        self.cv_glide = np.zeros(n, np.float32)  # the small changes since, summed
        self.cv_glide_sq = np.zeros(n, np.float32)  # their squares, summed
        self.cv_cross = np.zeros(n, np.float32)  # products of consecutive ones, summed
        self.cv_prev = np.zeros(n, np.float32)  # the last one (0 after a switch)
        self.cv_moves = np.zeros(n, np.int32)  # how many small changes
        self.cv_jumps = np.zeros(n, np.int32)  # how many changes were not small
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return self.load.nbytes + self.corridor.nbytes + self.track.nbytes + sum(
            a.nbytes for a in (self.phase, self.recognised, self.ref, self.level, self.cv_top,
                               self.cv_entry, self.cv_low, self.step_ms, self.seen_ms,
                               self.cv_ms, self.off_ms, self.absorbed_ms, self.last_power,
                               self.cv_start, self.cv_glide, self.cv_glide_sq, self.cv_cross,
                               self.cv_prev, self.cv_moves, self.cv_jumps))

    def observe(self, obs: Observations) -> list[Alarm]:
        power = obs.column(self.METRIC)
        present = ~np.isnan(power)
        s, ts, p = obs.local[present], obs.ts[present], power[present]
        corridor = self.corridor.observe(s, ts, p)
        signal = np.where(self.corridor.is_landing(s), corridor, p)
        known = ~np.isnan(signal)
        s, ts, p, signal = s[known], ts[known], p[known], signal[known]
        change = signal - self.last_power[s]  # NaN at a device's first report
        self.last_power[s] = signal
        view = self.load.update(s, ts, signal)
        started = self._start(s, ts, view)
        active = (self.phase[s] != IDLE) & ~started
        held = ts - self.step_ms[s] >= self.CC_MIN_MS  # the plateau has held long enough
        ref, moved, off = self._other_loads(s, ts, view, active, held)
        extra = view.floor - ref
        self._stages(s, ts, view, active & ~off, held, extra, moved, change.astype(np.float64))
        self.phase[s[off]] = IDLE
        charging = self.recognised[s] & (self.phase[s] != IDLE)
        moves = self.track.step(s, ts, charging, self.phase[s] == IDLE, 0, p, extra)
        return [self._alarm(int(s[i]), int(ts[i]), float(p[i]), float(signal[i]), state)
                for i, state in moves.each()]

    def _start(self, s: IntArray, ts: IntArray, view: LoadView) -> BoolArray:
        """Candidates begin on a smooth step of the floor into the band after a calm spell, or
        on a floor standing in the band above the day's quiet floor with the circuit smooth."""
        idle = self.phase[s] == IDLE
        smooth_step = view.rough <= view.rough_before * (1 + self.ROUGH_TOL_SHARE) \
            + self.ROUGH_TOL_W
        # Under a rough load the floor moves by a share of the swings: a step must stand out.
        by_step = idle & (view.burst_calm_ms >= self.CALM_MS) & smooth_step \
            & _within(view.burst_step, self.STEP_MIN_W, self.STEP_MAX_W) \
            & (view.burst_step >= self.STEP_OVER_ROUGH * view.rough)
        # The quiet floor may be too high while the device has not reported for a day: then
        # fewer candidates begin, never more.
        by_lift = idle & ~by_step & (view.calm_ms >= self.CALM_MS) \
            & (view.rough <= self.SMOOTH_W) \
            & _within(view.floor - view.quiet, self.STEP_MIN_W, self.STEP_MAX_W)
        start: BoolArray = by_step | by_lift
        if not start.any():
            return start
        at = s[start]
        ref = np.where(by_step, view.floor - view.burst_step, view.quiet)[start]
        self.phase[at] = CC
        self.recognised[at] = False
        self.ref[at] = ref
        self.level[at] = view.floor[start] - ref
        self.step_ms[at] = ts[start] - LoadFloor.FLOOR_MS
        self.seen_ms[at] = ts[start]
        self.off_ms[at] = 0
        return start

    def _other_loads(self, s: IntArray, ts: IntArray, view: LoadView, active: BoolArray,
                     held: BoolArray) -> tuple[FloatArray, BoolArray, BoolArray]:
        """Move ``ref`` by other loads' switches. Returns the new ``ref``, where it moved, and
        where the candidate itself was switched off."""
        level, ref = self.level[s].astype(np.float64), self.ref[s].astype(np.float64)
        before = view.floor - view.step - ref
        switched = active & view.switched
        # A fall by the candidate's own size is its end; once it has held, an air conditioner
        # of the same size going off may look alike: then the floor must be back to quiet.
        back_to_quiet = view.floor - view.quiet <= np.maximum(0.5 * level, 2 * self.TOL_W)
        off = switched & (view.step < 0) & (np.abs(view.step + before) <= self._tol(before)) \
            & (back_to_quiet | ~view.quiet_known | ~held)
        # Right after a switch the floor settles (a rough load's lowest swing comes within a
        # few reports): that belongs to the switch. Right after the start, what keeps the load
        # in the band belongs to the step. Once the plateau has held, a small fall is the
        # taper's: it falls fastest at its start and a large charger's may pass for a switch.
        settling = active & ~view.switched & (ts - self.absorbed_ms[s] < self.SETTLE_MS)
        young = active & (ts - self.seen_ms[s] < self.YOUNG_MS) \
            & _within(view.floor - ref, self.STEP_MIN_W, self.LEVEL_MAX_W)
        tapering = switched & held & (view.step < 0) & (-view.step <= self.OWN_FALL_SHARE * level)
        # Under a rough load (an air conditioner's swings) the floor of a large load reaches
        # its level in parts, and the first part may look like a charger's step: a step up
        # past the band within YOUNG_MS of the start was that load's. The candidate ends.
        leading = switched & (ts - self.seen_ms[s] < self.YOUNG_MS) & (view.step > 0) \
            & (view.floor - ref > self.LEVEL_MAX_W)
        off = off | leading
        moved = (switched | settling) & ~off & ~young & ~tapering
        absorbed = moved & switched
        self.absorbed_ms[s[absorbed]] = ts[absorbed]
        # Nothing stands below the day's quiet floor (once it is known: before, the lowest so far
        # may be an air conditioner's).
        unclamped = ref + np.where(moved, view.step, 0.0)
        ref = np.where(view.quiet_known, np.maximum(unclamped, view.quiet), unclamped)
        self.ref[s] = ref
        moved = (moved & (view.step != 0)) | (active & (ref != unclamped))
        return ref, moved, off

    def _stages(self, s: IntArray, ts: IntArray, view: LoadView, active: BoolArray,
                held: BoolArray, extra: FloatArray, moved: BoolArray,
                change: FloatArray) -> None:
        phase = self.phase[s]
        cc, cv = active & (phase == CC), active & (phase == CV)
        level = self.level[s].astype(np.float64)
        young = active & (ts - self.seen_ms[s] < self.YOUNG_MS)
        level = np.where(young & _within(extra, self.STEP_MIN_W, self.STEP_MAX_W), extra, level)
        tol = self._tol(level)

        # Constant current: the plateau holds within its band, its level following the creep
        # up (a charger's plateau never sinks); after CC_MIN_MS a fall below the band begins
        # the taper.
        steady = cc & (np.abs(extra - level) <= tol) & (level <= self.LEVEL_MAX_W)
        to_cv = cc & held & (extra < level - tol) & (extra >= self.FINISHED_SHARE * level)
        creep = steady & (extra > level)
        alpha = 1.0 - np.exp(-view.dt / self.LEVEL_UP_MS)
        self.level[s] = np.where(creep, level + alpha * (extra - level), level)

        # Constant voltage: the taper falls without climbing back, to half the plateau, not in
        # one go, by a share of the plateau since another load's last switch, and by more than
        # the floor's wander under a rough load.
        rebase = cv & moved
        self.cv_entry[s[rebase]] = extra[rebase]
        cv_low = np.where(rebase, extra, np.minimum(self.cv_low[s], extra))
        self.cv_low[s[cv]] = cv_low[cv]
        top = self.cv_top[s].astype(np.float64)
        climbed = cv & (extra > cv_low + np.maximum(self.RISE_TOL_SHARE * top, self.RISE_TOL_W))
        back = climbed & (np.abs(extra - level) <= tol)
        clean_fall = np.maximum(self.CLEAN_TAPER_SHARE * top, self.TAPER_MIN_W)
        # On a landing's corridor load (the box minus its households, a median of buckets) the
        # reports' changes are the median's steps, not a meter's: the glide is not read there.
        glided = self._glide(s, view, cv, top, extra, change) | self.corridor.is_landing(s)
        deep = cv & ~climbed & (extra <= (1 - self.TAPER_SHARE) * top) \
            & (extra <= self.cv_entry[s] - clean_fall) & (top - extra >= view.rough) & glided
        too_fast = deep & ~self.recognised[s] & (ts - self.cv_ms[s] < self.CV_MIN_MS)
        finished = cv & (extra < self.FINISHED_SHARE * top)
        self.recognised[s[deep & ~too_fast]] = True

        # Off the band for GRACE_MS: the plateau left it before its time, or the taper climbed.
        astray = (cc & ~steady & ~to_cv) | (climbed & ~back)
        since = np.where(astray, np.where(self.off_ms[s] > 0, self.off_ms[s], ts), 0)
        self.off_ms[s] = since
        lost = astray & (ts - since >= self.GRACE_MS)
        too_long = active & (ts - self.step_ms[s] > self.MAX_MS)

        at = s[to_cv]
        self.phase[at] = CV
        self.cv_ms[at] = ts[to_cv]
        self.cv_top[at] = level[to_cv]
        self.cv_low[at] = self.cv_entry[at] = self.cv_start[at] = extra[to_cv]
        self.cv_glide[at] = self.cv_glide_sq[at] = self.cv_cross[at] = self.cv_prev[at] = 0.0
        self.cv_moves[at] = self.cv_jumps[at] = 0
        self.phase[s[back]] = CC
        self.phase[s[too_fast | finished | lost | too_long]] = IDLE

    def _glide(self, s: IntArray, view: LoadView, cv: BoolArray, top: FloatArray,
               extra: FloatArray, change: FloatArray) -> BoolArray:
        """Count this report's change into the taper's glide; whether the glide so far explains
        the taper's fall and stands out of the circuit's own wander.

        The glide's uncertainty is its long-run variance, n x (variance + 2 x lag-1
        covariance) of the small changes: a circuit whose load wanders (a house's background)
        has changes that do not cancel, a meter's noise has changes that do (a high reading is
        followed by a fall), and a sum of n changes is never surer than one change's
        variance x 2 (its two ends)."""
        minutes = np.maximum(view.dt / MINUTE_MS, 1.0)
        small = cv & ~np.isnan(change) & (np.abs(change) <= np.maximum(
            LoadFloor.JUMP_W, self.GLIDE_STEP_SHARE * top * minutes))
        switched = cv & ~small
        at, moves = s[small], change[small]
        self.cv_glide[at] += moves
        self.cv_glide_sq[at] += np.square(moves)
        self.cv_cross[at] += moves * self.cv_prev[at]
        self.cv_prev[at] = moves
        self.cv_prev[s[switched]] = 0.0
        self.cv_moves[at] += 1
        self.cv_jumps[s[switched]] += 1
        fall = self.cv_start[s] - extra
        n = np.maximum(self.cv_moves[s].astype(np.float64), 1.0)
        glide = self.cv_glide[s].astype(np.float64)
        mean = glide / n
        var = np.maximum(self.cv_glide_sq[s] / n - mean * mean, self.GLIDE_VAR_MIN)
        cov = self.cv_cross[s] / n - mean * mean
        spread = np.sqrt(np.maximum(n * (var + 2 * cov), 2 * var))
        glided = (-glide >= self.GLIDE_SHARE * fall) & (self.cv_moves[s] >= self.GLIDE_MOVES) \
            & (glide <= -self.GLIDE_T * spread)
        # Under a rough load (an air conditioner's swings) most changes are jumps and the glide
        # cannot be seen: the taper is judged on the floor alone there.
        seen = self.cv_jumps[s] + self.cv_moves[s]
        hidden = (self.cv_jumps[s] > self.HIDDEN_SHARE * seen) & (seen >= 2 * self.GLIDE_MOVES)
        out: BoolArray = glided | hidden
        return out

    def _tol(self, level: FloatArray) -> FloatArray:
        return np.maximum(self.TOL_SHARE * level, self.TOL_W)

    def _alarm(self, slot: int, ts: int, power: float, signal: float,
               state: AlarmState) -> Alarm:
        landing = self.corridor.row[slot] >= 0
        evidence = {"rule": "ebike_signature", "metric": self.METRIC, "power_w": power,
                    "signal": "corridor_own_load" if landing else self.METRIC,
                    "signal_w": signal, "base_w": float(self.ref[slot]),
                    "step_w": float(self.cv_top[slot]), "taper_to_w": float(self.cv_low[slot]),
                    "constant_current_ms": int(self.cv_ms[slot] - self.step_ms[slot]),
                    "cc_min_ms": self.CC_MIN_MS, "taper_share": self.TAPER_SHARE,
                    "taper_glide_w": float(self.cv_glide[slot]),
                    "taper_changes": [int(self.cv_moves[slot]), int(self.cv_jumps[slot])],
                    "step_band_w": [self.STEP_MIN_W, self.STEP_MAX_W],
                    "window": {"start_ms": int(self.step_ms[slot]), "end_ms": ts}}
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(self.track.refires[slot])
        return self._index.alarm(int(self._globals[slot]), AlarmKind.EBIKE_CHARGING,
                                 int(self.track.onset[slot]), ts, state, evidence)


def _within(x: FloatArray, low: float, high: float) -> BoolArray:
    within: BoolArray = (x >= low) & (x <= high)
    return within
