"""What a circuit's load is made of, read from its power reports: the floor, the roughness and
the abrupt steps. Per device, vectorized.

The floor is the lowest load of the last ``FLOOR_MS``: a kettle, a microwave or a fridge's
start-up surge never lasts that long, so they do not show in it, while anything held for longer
(a charger, an air conditioner, a long cooking session) lifts it. Under an air conditioner,
whose draw swings with its compressor, the floor settles at the low end of the swings, so a
steady load added on top still lifts it by its own size.

Roughness is how much the load moves from one report to the next (time-smoothed): an air
conditioner's compressor makes a circuit rough, a charger does not. The floor steps a window
after the load switched on, so a step is judged against the calmest the circuit was over a
little more than that window: a step that came with roughness came from a load like an air
conditioner; a step under an air conditioner that was already running did not.

The quiet floor is the lowest load of the last day (standby and base loads only); until a
device has reported for some hours it is only the lowest so far, and not to be relied on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.track import BoolArray, FloatArray, IntArray
from gongzhi.gateway.detection.window import WindowMax

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class LoadView:
    """One report per device, as the signature rules see it."""

    floor: FloatArray  # lowest load of the last FLOOR_MS, as last decided, W
    step: FloatArray  # change of the decided floor at this report, W (0 at first)
    quiet: FloatArray  # lowest load of the last day, W
    quiet_known: BoolArray  # the device has reported for QUIET_KNOWN_MS
    rough: FloatArray  # roughness, W per report
    rough_before: FloatArray  # the calmest the circuit was in the last CALM_WINDOW_MS, W
    dt: IntArray  # ms since the device's previous report (0 at first)
    switched: BoolArray  # the floor moved by JUMP_W or more within HORIZON_MS
    calm_ms: IntArray  # ms from the switch before this report to this report
    # Moves of the floor (JUMP_W or more) within BURST_MS of each other are one step reaching
    # the floor in parts (the window's lowest reading may fall between the two levels): at
    # such a move, the change since before the first, and the ms from the switch before it.
    burst_step: FloatArray
    burst_calm_ms: IntArray


class LoadFloor(Stateful):
    DEVICE_STATE = ("last_floor", "decided_ms", "last_power", "rough", "last_ts",
                    "switch_ms", "first_ms", "burst_floor", "burst_ms", "burst_calm_ms")
    NESTED = ("floor_window", "quiet_window", "calmest")

    FLOOR_MS = 10 * MINUTE_MS
    DAY_MS = 24 * 60 * MINUTE_MS
    ROUGH_MS = 3 * MINUTE_MS
    CALM_WINDOW_MS = 15 * MINUTE_MS
    # One switching appliance counts once, not by its size, in the roughness.
    ROUGH_CLIP_W = 300.0
    # A change of the floor this large (or as large as the roughness) within HORIZON_MS is a
    # load switching; a charger's draw creeps up and tapers by at most a few watts a minute. A
    # smaller change is decided once HORIZON_MS has passed without the floor going further.
    JUMP_W = 30.0
    HORIZON_MS = 2 * MINUTE_MS
    BURST_MS = 5 * MINUTE_MS
    # Until a device has reported this long, its lowest load so far may be an air conditioner
    # that ran from the start: not its quiet floor.
    QUIET_KNOWN_MS = 6 * 60 * MINUTE_MS

    def __init__(self, size: int) -> None:
        self.floor_window = WindowMax(size, self.FLOOR_MS)  # of -power
        self.quiet_window = WindowMax(size, self.DAY_MS)  # of -power
        self.last_floor = np.full(size, np.nan, np.float32)  # as last decided
        self.decided_ms = np.zeros(size, np.int64)
        self.last_power = np.full(size, np.nan, np.float32)
        self.rough = np.full(size, np.nan, np.float32)  # NaN until a second report
        self.calmest = WindowMax(size, self.CALM_WINDOW_MS)  # of -roughness
        self.last_ts = np.zeros(size, np.int64)
        self.switch_ms = np.zeros(size, np.int64)
        self.first_ms = np.zeros(size, np.int64)
        self.burst_floor = np.zeros(size, np.float32)
        self.burst_ms = np.zeros(size, np.int64)  # the last move of the floor
        self.burst_calm_ms = np.zeros(size, np.int64)

    @property
    def nbytes(self) -> int:
        return (self.floor_window.nbytes + self.quiet_window.nbytes + self.calmest.nbytes + sum(
            a.nbytes for a in (self.last_floor, self.last_power, self.rough, self.last_ts,
                               self.switch_ms, self.first_ms, self.burst_floor,
                               self.burst_calm_ms, self.burst_ms,
                               self.decided_ms)))

    def update(self, s: IntArray, ts: IntArray, power: FloatArray) -> LoadView:
        """Add one report per slot (unique slots, device-time order)."""
        floor = -self.floor_window.update(s, ts, -power)
        quiet = -self.quiet_window.update(s, ts, -power)
        seen: BoolArray = self.last_ts[s] > 0
        self.first_ms[s[~seen]] = ts[~seen]
        quiet_known = ts - self.first_ms[s] >= self.QUIET_KNOWN_MS
        dt = np.where(seen, ts - self.last_ts[s], 0).clip(0)
        moved = np.where(seen, np.abs(power - self.last_power[s]), 0.0).clip(0.0,
                                                                             self.ROUGH_CLIP_W)
        previous = self.rough[s]
        rough = np.where(seen, np.where(np.isnan(previous), moved,
                                        _ewma(previous, moved, dt, self.ROUGH_MS)), np.nan)
        calmest = -self.calmest.update(s, ts, np.where(np.isnan(rough), -np.inf, -rough))
        change = np.where(seen, floor - self.last_floor[s], 0.0)
        # Under a rough load the floor itself moves by a share of the swings.
        switched = np.abs(change) >= np.maximum(self.JUMP_W, rough)
        decided = switched | ~seen | (ts - self.decided_ms[s] >= self.HORIZON_MS)
        step = np.where(decided, change, 0.0)
        floor = np.where(decided, floor, self.last_floor[s])
        calm = ts - self.switch_ms[s]
        moved_floor = np.abs(step) >= self.JUMP_W
        fresh = moved_floor & (ts - self.burst_ms[s] > self.BURST_MS)
        self.burst_floor[s[fresh]] = self.last_floor[s[fresh]]
        self.burst_calm_ms[s[fresh]] = calm[fresh]
        self.burst_ms[s[moved_floor]] = ts[moved_floor]
        burst_step = np.where(moved_floor, floor - self.burst_floor[s], 0.0)
        burst_calm = np.where(moved_floor, self.burst_calm_ms[s], 0)
        self.switch_ms[s[switched]] = ts[switched]
        self.decided_ms[s[decided]] = ts[decided]
        self.rough[s] = rough
        self.last_floor[s], self.last_power[s], self.last_ts[s] = floor, power, ts
        return LoadView(floor, step, quiet, quiet_known, rough, calmest, dt, switched, calm,
                        burst_step, burst_calm)


def _ewma(level: np.ndarray, x: FloatArray, dt: IntArray, tau_ms: int) -> FloatArray:
    alpha = 1.0 - np.exp(-dt / tau_ms)
    out: FloatArray = level + alpha * (x - level)
    return out
