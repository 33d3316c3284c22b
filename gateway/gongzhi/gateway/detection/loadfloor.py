"""A circuit's quiet floor, read from its power reports: its state, per device.

The quiet floor is the lowest load of the last day (standby and base loads only); until a
device has reported for ``QUIET_KNOWN_MS`` it is only the lowest so far, and not to be relied on.
The e-bike rule's compiled step (``ebike_signature``) adds each report to the window (of the
negated power) and reads the floor where it needs it.
"""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.window import WindowMax

MINUTE_MS = 60_000


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
