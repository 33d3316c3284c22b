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
from typing import cast

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.corridor import CorridorResidual
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.ebike_signature import (
    NO_SLOT,
    RULE_P,
    RuleState,
    observe_round,
)
from gongzhi.gateway.detection.edges import SUMS, EdgeSplitter
from gongzhi.gateway.detection.loadfloor import LoadFloor
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    AlarmTrack,
    BoolArray,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    moves_of_rows,
)

MINUTE_MS = 60_000
_NO_LANDING: BoolArray = np.zeros(0, np.bool_)  # (no landing in the registry)


class EbikeChargingDetector(ObservesMoves, Stateful):
    DEVICE_STATE = ("phase", "on_ms", "step", "whole", "before", "base", "top", "cv_ms",
                    "cv_sums", "cv_clipped", "cv_level", "low", "recognised", "alarm_slot",
                    "ev_on_ms", "ev_top", "ev_low", "ev_cv_ms", "ev_base", "ev_glide", "ev_moves",
                    "ev_edges", "last_signal", "run_before", "step_edges", "up_ms",
                    "settled_out")
    # (``_state``, ``_edge_state`` and ``_buckets``: the arrays above, the edges' and the
    # corridor's, as the compiled step takes them; ``_params``, ``_edge_params``: the
    # constants.)
    DERIVED = ("_globals", "_state", "_edge_state", "_buckets", "_params", "_edge_params")
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
        self.cv_sums = np.zeros((n, k, SUMS), np.float64)
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
        self._state = cast(RuleState, tuple(getattr(self, name) for name in self.DEVICE_STATE))
        self._edge_state = self.edges.state()
        self._buckets = self.corridor.buckets()
        self._params, self._edge_params = self.params(), self.edges.params()

    @property
    def peer_groups(self) -> IntArray:
        """Per device, its landing (-1: none): a landing's box is read with its households."""
        return self.corridor.peer_groups()

    @property
    def nbytes(self) -> int:
        return self.load.nbytes + self.corridor.nbytes + self.edges.nbytes + \
            self.track.nbytes + sum(int(getattr(self, name).nbytes) for name in self.DEVICE_STATE)

    def params(self) -> FloatArray:
        """The rule's constants as the class has them now, in ``RULE_P``'s order."""
        own = {**{name: getattr(self, name) for name in RULE_P if hasattr(self, name)},
               "QUIET_KNOWN_MS": self.load.QUIET_KNOWN_MS}
        return np.array([own[name] for name in RULE_P], np.float64)

    @property
    def row_wise(self) -> bool:
        """A household's report is its own (``rules.row_wise``); a landing's corridor load is
        formed from its households' reports of the round (``takes_rounds``)."""
        return not self.corridor.landings

    @property
    def takes_rounds(self) -> bool:
        """With landings: each round's reports form its landings' corridor loads first
        (``rules.takes_rounds``)."""
        return bool(self.corridor.landings)

    def observe_moves(self, obs: Observations) -> list[Move]:
        # (Contiguous, as the compiled step is compiled for: a column of a round's matrix is
        # strided, except on a round of one device.)
        p = np.ascontiguousarray(obs.column(self.METRIC))
        s, ts, signal, landing = obs.local, obs.ts, p, _NO_LANDING
        rows = None  # the rows of ``obs`` passed on (None: all)
        if self.corridor.landings:  # a landing's signal is its corridor's own load
            starts = obs.round_starts()
            present = p == p  # NaN: not reported
            if np.count_nonzero(present) < s.size:
                rows = np.flatnonzero(present)
                s, ts, p = s[rows], ts[rows], p[rows]
                starts = np.searchsorted(rows, starts)
            landing = self.corridor.row[s] >= 0
            # (The corridor's sums and history are the corridor's alone: its loads of the
            # whole batch are formed before the rule's step reads them.)
            signal = self.corridor.signal(s, ts, p, starts)
        window = self.load.quiet_window
        floor = (window.value, window.bucket, window.width, self.load.first_ms)
        track = self.track.arrays()
        moves = moves_of_rows(
            s.size,
            lambda at: observe_round(self._state, self._edge_state, floor, self._buckets, track,
                                     self.track.clear_hold_ms, self._params, self._edge_params,
                                     s, ts, p, signal, landing, self.corridor.row, at),
            lambda i, state: self._alarm(int(s[i]), int(ts[i]), float(p[i]), float(signal[i]),
                                         state))
        if rows is None:
            return moves
        return [(int(rows[i]), state, alarm) for i, state, alarm in moves]

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

