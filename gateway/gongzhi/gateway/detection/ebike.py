"""E-bike charging from the load signature on a household or corridor circuit (docs/domain.md): a
step of 100-400 W held at constant current (flat, creeping up with the battery's voltage), then
constant voltage (the draw glides away over tens of minutes). The alarm needs the whole
signature: a plateau held at least ``CC_MIN_MS``, then a smooth fall to ``1 - TAPER_SHARE`` of
it. The ticket asks for a follow-up within days, not a dash up the stairs, so it waits for the
proof: it comes in the taper, before the charge ends.

The circuit's reports are split into step edges (appliances switching) and small changes
(``edges``). Every step up of charger size starts a *candidate* (up to ``SLOTS`` per circuit,
each followed on its own): a load that switched on by that much. A candidate's level is its step
plus the small changes since, since other appliances' switching are their own edges and leave it
alone. A candidate ends when:
- a step down matches its level: that load switched off (a television, a computer, a fridge's
  compressor: appliances end in one step, a charger glides); not on the upper part of its taper
  while the circuit still draws its level above its reading before the step (another load of
  that size switched off);
- it falls out of its band before the plateau has held ``CC_MIN_MS``, or holds longer than
  ``CC_MAX_MS``;
- the circuit no longer draws enough for it (``ROOM_SHARE`` of its level above the day's quiet
  floor);
- its taper climbs back, lasts longer than ``CV_MAX_MS`` or is done.
The taper must *glide*: the small changes since it began add up to a fall ``GLIDE_T`` times out
of their own spread and most of them fall (``FALL_SHARE``). A home's background wanders (its
small changes add up but as often up as down); a charger's constant-voltage stage falls a little
at every report.

On a landing's distribution box with monitored households the signal is the corridor's own load
(``corridor``: the box minus its households); its steps arrive in parts as the median moves, so
edges there are merged over ``LANDING_MERGE_MS``. A landing's own load is quiet (its lighting and
what is plugged in there): a candidate there is not recognised once more than
``LANDING_EDGES_MAX`` edges came since its step (another load switching on the corridor's load,
a flat whose meter does not report, whose cycles move the median as a taper would).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.corridor import CorridorResidual
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.edges import EdgeSplitter, EdgeView, Glide
from gongzhi.gateway.detection.loadfloor import LoadFloor
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    EMPTY,
    AlarmTrack,
    BoolArray,
    FloatArray,
    IntArray,
    constant,
)

MINUTE_MS = 60_000
IDLE, CC, CV = 0, 1, 2
NO_SLOT = -1
_NO_SLOT = constant(NO_SLOT, np.int8)  # (alarm_slot's)
NO_LOAD: FloatArray = np.zeros(0)


class EbikeChargingDetector(Stateful):
    DEVICE_STATE = ("phase", "on_ms", "step", "whole", "before", "base", "top", "cv_ms",
                    "cv_sums", "cv_clipped", "cv_level", "low", "recognised", "alarm_slot",
                    "ev_on_ms", "ev_top", "ev_low", "ev_cv_ms", "ev_base", "ev_glide", "ev_moves",
                    "ev_edges", "last_signal", "run_before", "step_edges", "up_ms",
                    "settled_out")
    DERIVED = ("_globals",)
    NESTED = ("corridor", "load", "edges", "track")

    METRIC = "power_w"
    SLOTS = 4  # candidates followed per circuit
    STEP_MIN_W, STEP_MAX_W = 60.0, 450.0  # 100-400 W with meter tolerance and a step's split
    MERGE_MS = 90_000  # edges of one sign this close are one step (a meter's averaging)
    LANDING_MERGE_MS = 6 * MINUTE_MS  # a corridor median's step arrives in parts
    OFF_SHARE, OFF_W = 0.15, 15.0  # a step down matching a candidate's level within this
    CREEP_SHARE = 0.2  # the plateau creeps up at most this much over its step
    BAND_SHARE, BAND_W = 0.12, 20.0  # the plateau's band below its top
    CC_MIN_MS = 20 * MINUTE_MS
    CC_MAX_MS = 4 * 60 * MINUTE_MS
    CV_MAX_MS = 3 * 60 * MINUTE_MS
    ROOM_SHARE = 0.5
    BACK_SHARE = 0.5  # a step down this large (of a candidate's level) may hold its switch-off
    TAPER_SHARE = 0.4  # recognised once the taper has fallen this share of the plateau,
    # gliding: the small changes since the taper's highest level fall GLIDE_T times their
    # spread, after GLIDE_MOVES of them at least; their falls outnumber their rises SIGN_Z
    # standard deviations out of a coin's, or those of their BLOCK_MS blocks (BLOCKS_MIN at
    # least) BLOCK_SIGN_Z; and clipped at CLIP_SHARE of the plateau a minute they still fall
    # CLIPPED_SHARE of the taper's share.
    GLIDE_MOVES, GLIDE_T, SIGN_Z = 5, 2.0, 3.5
    BLOCK_SIGN_Z, BLOCKS_MIN = 3.0, 9
    # A landing's own load is its stair lighting and what is plugged in there: quiet. More
    # edges than this since a candidate's step there are another load switching (a flat whose
    # meter does not report, a meter's gap), whose cycles move the corridor's median as a taper.
    LANDING_EDGES_MAX = 3
    GLIDE_VAR_MIN = 1.0  # W^2: a meter's resolution
    # A load that switched on in a step of a charger's size settles over its first minutes (a
    # fridge's start surge fading): the falls then, from its candidate's start, are its own,
    # not the level of the candidates begun before it.
    SETTLE_MS = 3 * MINUTE_MS
    CLIP_SHARE, CLIPPED_SHARE = 0.06, 0.8
    RISE_SHARE, RISE_W = 0.12, 25.0  # a taper climbing back this far was another load's
    FINISHED_SHARE = 0.1

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n, k = len(records), self.SLOTS
        self.corridor = CorridorResidual(records)
        self.load = LoadFloor(n)
        self.edges = EdgeSplitter(n)
        self.phase = np.zeros((n, k), np.int8)
        self.on_ms = np.zeros((n, k), np.int64)  # the candidate's step (its first edge)
        self.step = np.zeros((n, k), np.float32)  # its size
        # The whole step it came with (larger than ``step`` when a larger appliance switched on
        # a report later), and the circuit's load just before it.
        self.whole = np.zeros((n, k), np.float32)
        self.before = np.zeros((n, k), np.float32)
        # The circuit's last reading, and its reading before the first edge of the step being
        # gathered (small changes within a step's edges are not the step's).
        self.last_signal = np.zeros(n, np.float64)
        self.run_before = np.zeros(n, np.float64)
        self.up_ms = np.zeros(n, np.int64)  # the first edge of the last charger-sized step up
        # The settling a candidate's older candidates did not take in (its own give-back is less).
        self.settled_out = np.zeros((n, k), np.float64)
        self.base = np.zeros((n, k), np.float64)  # the small changes' total at the step
        self.step_edges = np.zeros((n, k), np.float64)  # the circuit's edges counted by then
        self.top = np.zeros((n, k), np.float32)  # the plateau's highest level
        self.cv_ms = np.zeros((n, k), np.int64)
        # The small changes' sums where the glide is counted from, and their clipped total.
        self.cv_sums = np.zeros((n, k, EdgeSplitter.SUMS), np.float64)
        self.cv_clipped = np.zeros((n, k), np.float64)
        self.cv_level = np.zeros((n, k), np.float32)  # the level the glide is counted from
        self.low = np.zeros((n, k), np.float32)  # the taper's lowest level
        self.recognised = np.zeros((n, k), np.bool_)
        # The candidate the device's alarm is about, and its evidence when it was recognised.
        self.alarm_slot = np.full(n, NO_SLOT, np.int8)
        self.ev_on_ms = np.zeros(n, np.int64)
        self.ev_top = np.zeros(n, np.float32)
        self.ev_low = np.zeros(n, np.float32)
        self.ev_cv_ms = np.zeros(n, np.int64)
        self.ev_base = np.zeros(n, np.float32)
        self.ev_glide = np.zeros(n, np.float32)
        self.ev_moves = np.zeros(n, np.int32)
        self.ev_edges = np.zeros(n, np.int32)
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def peer_groups(self) -> IntArray:
        """Per device, its landing (-1: none): a landing's box is read with its households."""
        return self.corridor.peer_groups()

    @property
    def nbytes(self) -> int:
        return self.load.nbytes + self.corridor.nbytes + self.edges.nbytes + \
            self.track.nbytes + sum(int(getattr(self, name).nbytes) for name in self.DEVICE_STATE)

    def observe(self, obs: Observations) -> list[Alarm]:
        power = obs.column(self.METRIC)
        present = power == power  # NaN: not reported
        s, ts, p = obs.local, obs.ts, power
        if np.count_nonzero(present) < s.size:
            s, ts, p = s[present], ts[present], p[present]
        landing = self.corridor.is_landing(s)
        corridor = self.corridor.observe(s, ts, p, landing)
        signal = p  # a household's circuit: its own power (no NaN: present)
        if corridor is not None:  # some landing: its corridor's own load
            signal = np.where(landing, corridor, p)
            known = ~np.isnan(signal)
            s, ts, p, signal, landing = s[known], ts[known], p[known], signal[known], \
                landing[known]
        if s.size == 0:
            return []
        self.load.update(s, ts, signal)
        merge = self.MERGE_MS if corridor is None else \
            np.where(landing, self.LANDING_MERGE_MS, self.MERGE_MS)
        edges = self.edges.update(s, ts, signal, merge)
        # Most reports complete no step and come with no candidate followed: the work on steps
        # and candidates then changes nothing and is not done.
        stepped = edges.stepped
        followed = self._followed(s)
        if stepped or followed:
            self._settling(s, ts, edges)
        # The load before the step completed now, then that of a step whose first edge is now
        # (an edge of this report).
        before = self.run_before[s] if stepped else NO_LOAD
        if edges.edged:
            first = (self.edges.run_first_ms[s] == ts) \
                & (np.abs(edges.change) >= EdgeSplitter.EDGE_W)
            self.run_before[s[first]] = self.last_signal[s[first]]
        self.last_signal[s] = signal
        on, alarmed = self._alarm_on(s)
        if stepped or followed or alarmed:
            total = self.edges.sums[s, EdgeSplitter.TOTAL]
        if stepped:
            level = self._level(s, total)
            # A charger switched on a report before a large appliance: the step's first edge.
            step = np.where(_within(edges.head, self.STEP_MIN_W, self.STEP_MAX_W)
                            & (edges.step - edges.head > self.STEP_MAX_W), edges.head, edges.step)
            self._steps(s, ts, step, edges.step, before, signal, edges.step_ms, level, total)
            followed = self._followed(s)
            on, alarmed = self._alarm_on(s)
        if followed or alarmed:
            level = self._level(s, total)
        if followed:
            # Only the reports with a candidate followed go through the stages.
            busy = np.flatnonzero((self.phase.take(s, axis=0) != IDLE).any(axis=1))
            view = self.load.view(s[busy], ts[busy])
            self._stages(s[busy], ts[busy], signal[busy], view.quiet, view.quiet_known,
                         level[busy])
            on, alarmed = self._alarm_on(s)
        if alarmed:
            slot = self.alarm_slot[s].astype(np.int64)
            rows = np.arange(s.size)
            live = on & (self.phase[s, np.maximum(slot, 0)] != IDLE) \
                & self.recognised[s, np.maximum(slot, 0)]
            self.alarm_slot[s[on & ~live]] = NO_SLOT
            extra = np.where(live, level[rows, np.maximum(slot, 0)], 0.0)
        else:  # no alarm's candidate to follow
            live, extra = np.zeros(s.size, np.bool_), np.zeros(s.size)
        moves = self.track.step(s, ts, live, ~live, 0, p, extra)
        return [self._alarm(int(s[i]), int(ts[i]), float(p[i]), float(signal[i]), state)
                for i, state in moves.each()]

    def _followed(self, s: IntArray) -> bool:
        """Whether a candidate is followed on some of the devices ``s``."""
        return bool(np.count_nonzero(self.phase.take(s, axis=0)))  # IDLE is 0

    def _alarm_on(self, s: IntArray) -> tuple[BoolArray, bool]:
        """Which of the devices ``s`` have an alarm's candidate, and whether any has."""
        on: BoolArray = self.alarm_slot[s] != _NO_SLOT
        return on, bool(np.count_nonzero(on))

    def _level(self, s: IntArray, total: FloatArray) -> FloatArray:
        """The level of each candidate of ``s``: its step and the small changes since it
        (``total``: the devices' small changes now)."""
        level: FloatArray = self.step.take(s, axis=0) + (total[:, None] - self.base.take(s, axis=0))
        return level

    def _settling(self, s: IntArray, ts: IntArray, edges: EdgeView) -> None:
        """A small fall within ``SETTLE_MS`` of the first edge of the step that started a
        candidate is that load's settling: the candidates begun before it do not take it in
        (their base moves with it); that candidate keeps count, to give back less when it
        ends."""
        up = (edges.step > 0) & _within(edges.step, self.STEP_MIN_W, self.STEP_MAX_W)
        self.up_ms[s[up]] = edges.step_ms[up]
        since = self.up_ms[s]
        settling = edges.small & (edges.change < 0) & (since > 0) & (ts - since < self.SETTLE_MS)
        if not np.count_nonzero(settling):
            return
        rows = np.flatnonzero(settling)
        at = s[rows]
        active = self.phase.take(at, axis=0) != IDLE
        on_ms = self.on_ms.take(at, axis=0)
        own = active & (on_ms == since[rows][:, None])
        older = active & (on_ms < since[rows][:, None]) & own.any(axis=1)[:, None]
        change = edges.change[rows][:, None]
        self.base[at] += np.where(older, change, 0.0)
        self.settled_out[at] += np.where(own & older.any(axis=1)[:, None], change, 0.0)

    def _steps(self, s: IntArray, ts: IntArray, step: FloatArray, whole: FloatArray,
               before: FloatArray, signal: FloatArray, step_ms: IntArray, level: FloatArray,
               total: FloatArray) -> None:
        """A completed step down ends the candidate whose level it matches best, and any
        candidate it takes the circuit back to where it was before that candidate's step; a
        step up of a charger's size starts a candidate."""
        if not np.count_nonzero(step):
            return
        phase = self.phase.take(s, axis=0)
        active = phase != IDLE
        down = (step < 0)[:, None]
        off = -whole[:, None]
        miss = np.abs(level - off)
        # A candidate that came as the head of a larger step ends with that step's switch-off
        # (a microwave's or a kettle's first minute, averaged by the meter).
        their_whole, their_step = self.whole.take(s, axis=0), self.step.take(s, axis=0)
        head = their_whole > their_step
        # (Closer to the whole than to the larger appliance alone: a charger switched on just
        # before a kettle stays when the kettle switches off.)
        whole_miss = np.abs(their_whole - off)
        head &= whole_miss < np.abs(their_whole - their_step - off)
        miss = np.where(head, np.minimum(miss, whole_miss), miss)
        size = np.where(head, np.maximum(level, their_whole), level)
        match = active & down & (miss <= np.maximum(self.OFF_SHARE * size, self.OFF_W))
        tolerance = np.maximum(self.OFF_SHARE * level, self.OFF_W)
        # A charger does not switch off in one step on the upper part of its taper (it glides
        # down, and cuts off at its end): a step down there matching a candidate's level that
        # leaves the circuit still drawing that level above the load before its step was
        # another load of its size switching off.
        before_step = self.before.take(s, axis=0)
        upper = (phase == CV) & (level >= (1 - self.TAPER_SHARE) * self.top.take(s, axis=0))
        match &= ~(upper & (signal[:, None] - before_step >= level - tolerance))
        any_match = match.any(axis=1)
        best = np.argmin(np.where(match, miss, np.inf), axis=1)
        ended = np.zeros_like(match)
        ended[np.flatnonzero(any_match), best[any_match]] = True
        # A load that switched off in a step that did not match its level (its level took in
        # its own settling, or a meter's averaging split it): a step down as large as half the
        # candidate that leaves the circuit where it was before the candidate's step.
        back = np.abs(signal[:, None] - before_step) <= tolerance
        ended |= active & down & (off >= self.BACK_SHARE * level) & back
        # What a load that ended on its own matched switch-off glided while it ran (a fridge's
        # compressor settling after its start) was its own: the candidates that began before it
        # get it back.
        self._give_back(s, ended & match, off, level)
        rows, cols = np.nonzero(ended)
        self.phase[s[rows], cols] = IDLE

        # While a charge is recognised, the circuit's small changes are its taper's: a
        # candidate started now would glide with it.
        starts = np.flatnonzero(_within(step, self.STEP_MIN_W, self.STEP_MAX_W)
                                & (self.alarm_slot[s] == NO_SLOT))
        if starts.size == 0:
            return
        at = s[starts]
        # A free slot, else the candidate on its plateau that began first (a taper is kept).
        phase = self.phase.take(at, axis=0)
        rank = np.where(phase == IDLE, -1, np.where(phase == CC, self.on_ms.take(at, axis=0),
                                                    np.iinfo(np.int64).max))
        col = np.argmin(rank, axis=1)
        self.phase[at, col] = CC
        self.on_ms[at, col] = step_ms[starts]
        self.step[at, col] = step[starts]
        self.whole[at, col] = whole[starts]
        self.before[at, col] = before[starts]
        self.top[at, col] = step[starts]
        self.base[at, col] = total[starts]
        self.settled_out[at, col] = 0.0
        self.step_edges[at, col] = self.edges.sums[at, EdgeSplitter.EDGES]
        self.recognised[at, col] = False

    def _give_back(self, s: IntArray, ended: BoolArray, off: FloatArray,
                   level: FloatArray) -> None:
        """The candidates ``ended`` by their own switch-off ``off`` drew ``off`` at the end and
        their step at the start: a fall between the two was their settling, not the older
        candidates' (whose levels took in as much of it as came in small changes: what the
        ended candidate's own level fell)."""
        rows, cols = np.nonzero(ended)
        if rows.size == 0:
            return
        at = s[rows]
        own = level[rows, cols] - self.step[at, cols]
        settled = np.minimum(np.maximum(off[rows, 0] - self.step[at, cols], own)
                             - self.settled_out[at, cols], 0.0)
        older = (self.phase.take(at, axis=0) != IDLE) \
            & (self.on_ms.take(at, axis=0) < self.on_ms[at, cols][:, None])
        which, col = np.nonzero(older)
        # base lower: level higher (settled is a fall, <= 0).
        np.add.at(self.base, (at[which], col), settled[which])

    def _stages(self, s: IntArray, ts: IntArray, signal: FloatArray, quiet: FloatArray,
                quiet_known: BoolArray, level: FloatArray) -> None:
        phase = self.phase.take(s, axis=0)
        cc, cv = phase == CC, phase == CV
        t = ts[:, None]
        top = self.top.take(s, axis=0).astype(np.float64)

        # Constant current: the plateau creeps up, never down; a fall out of its band after
        # CC_MIN_MS begins the taper, before it the load was something else.
        cap = self.step.take(s, axis=0) * (1 + self.CREEP_SHARE) + self.BAND_W
        top = np.where(cc, np.maximum(top, np.minimum(level, cap)), top)
        self.top[s] = top
        band = np.maximum(self.BAND_SHARE * top, self.BAND_W)
        falling = cc & (level < top - band)
        on_ms = self.on_ms.take(s, axis=0)
        held = t - on_ms >= self.CC_MIN_MS
        to_cv = falling & held
        ended = (falling & ~held & (level < (1 - self.TAPER_SHARE) * top)) \
            | (cc & (t - on_ms > self.CC_MAX_MS))

        # Constant voltage: the taper glides down without climbing back.
        low = np.where(cv, np.minimum(self.low.take(s, axis=0), level), level)
        climbed = cv & (level > low + np.maximum(self.RISE_SHARE * top, self.RISE_W))
        back = climbed & (level >= top - band)
        # Climbed, not back to the plateau: another load's wander; the glide starts again.
        again = climbed & ~back
        # Only candidates on their taper, deep enough and not yet recognised, can be recognised
        # now: the glide is read for those (most tapers are not that deep yet).
        deep = np.zeros_like(cv)
        glide_total, moves, glide_edges = (np.zeros(level.shape) for _ in range(3))
        tapering = np.flatnonzero(cv.any(axis=1)) if np.count_nonzero(cv) else EMPTY
        if tapering.size:
            deepening = cv & ~climbed & (level <= (1 - self.TAPER_SHARE) * top) \
                & ~self.recognised.take(s, axis=0)
            read = np.flatnonzero(deepening.any(axis=1)) if np.count_nonzero(deepening) \
                else EMPTY
            if read.size:
                glide = self.edges.glide(s[read], self.cv_sums.take(s[read], axis=0))
                glide_total[read], moves[read] = glide.total, glide.moves
                glide_edges[read] = glide.edges
                deep[read] = self._glides(s[read], glide, top[read]) & deepening[read]
            ended |= cv & ((level < self.FINISHED_SHARE * top)
                           | (t - self.cv_ms.take(s, axis=0) > self.CV_MAX_MS))
        # The circuit must still draw the candidate's load.
        ended |= (cc | cv) & quiet_known[:, None] \
            & ((signal - quiet)[:, None] < self.ROOM_SHARE * level)
        self.low[s] = low

        # (Each change below only where some candidate has it: most rounds have none.)
        rows, cols = to_cv.nonzero()
        if rows.size:
            at = s[rows]
            self.phase[at, cols] = CV
            self.cv_ms[at, cols] = ts[rows]
            self.cv_sums[at, cols] = self.edges.sums[at]
            self.cv_clipped[at, cols] = self._clipped(at, cols)
            self.cv_level[at, cols] = self.low[at, cols] = level[rows, cols]
        rows, cols = back.nonzero()
        if rows.size:
            self.phase[s[rows], cols] = CC
        # The glide is counted from the taper's highest level: back above where it began, the
        # plateau was still on (its wander took it below its band for a while).
        if tapering.size:  # (``again`` is on the taper too)
            rows, cols = ((cv & ~ended & (level > self.cv_level.take(s, axis=0)))
                          | again).nonzero()
            if rows.size:
                at = s[rows]
                self.cv_sums[at, cols] = self.edges.sums[at]
                self.cv_clipped[at, cols] = self._clipped(at, cols)
                self.cv_level[at, cols] = np.maximum(level[rows, cols], self.cv_level[at, cols])
                self.low[at, cols] = np.minimum(level[rows, cols], self.low[at, cols])
        rows, cols = ended.nonzero()
        if rows.size:
            self.phase[s[rows], cols] = IDLE

        # The first recognised candidate is the device's alarm while it lasts.
        fresh = deep & ~ended & ~self.recognised.take(s, axis=0)
        if not np.count_nonzero(fresh):
            return
        self.recognised[s] |= fresh
        free = self.alarm_slot[s] == NO_SLOT
        pick = free & fresh.any(axis=1)
        if not np.count_nonzero(pick):
            return
        rows = np.flatnonzero(pick)
        cols = np.argmax(fresh[rows], axis=1)
        at = s[rows]
        self.alarm_slot[at] = cols
        # The others glided with it: they end.
        others = np.ones((rows.size, self.SLOTS), np.bool_)
        others[np.arange(rows.size), cols] = False
        self.phase[at] = np.where(others, IDLE, self.phase.take(at, axis=0))
        self.ev_on_ms[at] = self.on_ms[at, cols]
        self.ev_top[at] = top[rows, cols]
        self.ev_low[at] = level[rows, cols]
        self.ev_cv_ms[at] = self.cv_ms[at, cols]
        self.ev_base[at] = signal[rows] - level[rows, cols]
        self.ev_glide[at] = glide_total[rows, cols]
        self.ev_moves[at] = moves[rows, cols]
        self.ev_edges[at] = glide_edges[rows, cols]

    def _glides(self, s: IntArray, glide: Glide, top: FloatArray) -> BoolArray:
        """Which candidates of ``s`` (those on their taper whose level is deep enough, for the
        caller) fall as a taper glides; ``top``: their plateaus."""
        moves = glide.moves
        # Sign test: as many falls as rises is a wander; a taper falls at most reports.
        # A slow taper's reports are mostly noise: then its BLOCK_MS blocks fall.
        # (A report that did not move, as a landing's median between its buckets, counts for
        # neither.)
        signs = _sign_z(glide.falls, glide.rises)
        blocks = glide.block_falls + glide.block_rises
        block_signs = _sign_z(glide.block_falls, glide.block_rises)
        glided = (moves >= self.GLIDE_MOVES) \
            & (glide.total <= -self.GLIDE_T * glide.spread(self.GLIDE_VAR_MIN)) \
            & ((signs >= self.SIGN_Z)
               | ((block_signs >= self.BLOCK_SIGN_Z) & (blocks >= self.BLOCKS_MIN)))
        # The fall counted with each report's change clipped at CLIP_SHARE of the plateau: a
        # taper falls a little at every report, appliances switching off (lamps, a computer)
        # fall by their size at a few.
        k = np.broadcast_to(np.arange(self.SLOTS), top.shape)
        rows_all = np.broadcast_to(np.arange(s.size)[:, None], top.shape)
        clipped_fall = self.cv_clipped.take(s, axis=0) - self._clipped(s[rows_all], k)
        edges = self.edges.sums[s, EdgeSplitter.EDGES][:, None] - self.step_edges.take(s, axis=0)
        quiet = (self.corridor.row[s] < 0)[:, None] | (edges <= self.LANDING_EDGES_MAX)
        glides: BoolArray = glided & quiet \
            & (clipped_fall >= self.CLIPPED_SHARE * self.TAPER_SHARE * top)
        return glides

    def _clipped(self, slots: IntArray, cols: IntArray) -> FloatArray:
        """The small changes' clipped total of ``slots`` now, at the clip that suits each
        one's candidate ``cols``: the largest of ``EdgeSplitter.CLIPS_W`` not past
        ``CLIP_SHARE`` of its plateau (the smallest, for a small plateau)."""
        clips = np.asarray(EdgeSplitter.CLIPS_W)
        want = self.CLIP_SHARE * self.top[slots, cols]
        which = np.maximum(np.searchsorted(clips, want, side="right") - 1, 0)
        out: FloatArray = self.edges.clipped[slots, which]
        return out

    def _alarm(self, slot: int, ts: int, power: float, signal: float,
               state: AlarmState) -> Alarm:
        landing = self.corridor.row[slot] >= 0
        evidence = {"rule": "ebike_signature", "metric": self.METRIC, "power_w": power,
                    "signal": "corridor_own_load" if landing else self.METRIC,
                    "signal_w": signal, "base_w": float(self.ev_base[slot]),
                    "step_w": float(self.ev_top[slot]), "taper_to_w": float(self.ev_low[slot]),
                    "constant_current_ms": int(self.ev_cv_ms[slot] - self.ev_on_ms[slot]),
                    "cc_min_ms": self.CC_MIN_MS, "taper_share": self.TAPER_SHARE,
                    "taper_glide_w": float(self.ev_glide[slot]),
                    "taper_changes": [int(self.ev_moves[slot]), int(self.ev_edges[slot])],
                    "step_band_w": [self.STEP_MIN_W, self.STEP_MAX_W],
                    "window": {"start_ms": int(self.ev_on_ms[slot]), "end_ms": ts}}
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(self.track.refires[slot])
        return self._index.alarm(int(self._globals[slot]), AlarmKind.EBIKE_CHARGING,
                                 int(self.track.onset[slot]), ts, state, evidence)


def _within(x: FloatArray, low: float, high: float) -> BoolArray:
    within: BoolArray = (x >= low) & (x <= high)
    return within


def _sign_z(falls: FloatArray, rises: FloatArray) -> FloatArray:
    """How far more falls than rises stand out of a fair coin's, in standard deviations."""
    out: FloatArray = (falls - rises) / np.sqrt(np.maximum(falls + rises, 1.0))
    return out
