"""A circuit's quiet floor, read from its power reports. Per device, vectorized.

The quiet floor is the lowest load of the last day (standby and base loads only); until a
device has reported for some hours it is only the lowest so far, and not to be relied on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.track import BoolArray, FloatArray, IntArray, constant
from gongzhi.gateway.detection.window import WindowMax

MINUTE_MS = 60_000
_ZERO_MS = constant(0, np.int64)


@dataclass(frozen=True, slots=True)
class LoadView:
    """One report per device, as the signature rule sees it."""

    quiet: FloatArray  # lowest load of the last day, W
    quiet_known: BoolArray  # the device has reported for QUIET_KNOWN_MS


class LoadFloor(Stateful):
    DEVICE_STATE = ("first_ms",)
    NESTED = ("quiet_window",)

    DAY_MS = 24 * 60 * MINUTE_MS
    # Until a device has reported this long, its lowest load so far may be an air conditioner
    # that ran from the start: not its quiet floor.
    QUIET_KNOWN_MS = 6 * 60 * MINUTE_MS

    def __init__(self, size: int) -> None:
        self.quiet_window = WindowMax(size, self.DAY_MS)  # of -power
        self.first_ms = np.zeros(size, np.int64)  # the device's first report (0: none yet)

    @property
    def nbytes(self) -> int:
        return self.quiet_window.nbytes + self.first_ms.nbytes

    def update(self, s: IntArray, ts: IntArray, power: FloatArray) -> None:
        """Add one report per slot (unique slots, device-time order)."""
        self.quiet_window.add(s, ts, -power)
        fresh = self.first_ms[s] <= _ZERO_MS
        if np.count_nonzero(fresh):
            self.first_ms[s[fresh]] = ts[fresh]

    def view(self, s: IntArray, ts: IntArray) -> LoadView:
        """The floor of slots ``s`` at their last report ``ts`` (``update`` first)."""
        quiet = -self.quiet_window.peak(s, ts)
        return LoadView(quiet, ts - self.first_ms[s] >= self.QUIET_KNOWN_MS)
