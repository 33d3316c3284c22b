"""Per-device arrival bookkeeping: duplicate ``(device, seq)`` and out-of-order detection.

Memory bound: one small record per device (the highest seq seen, a bitmap of the ``WINDOW`` seqs
below it, the newest device timestamp), about 200 bytes whatever the traffic.

Rules:
- a seq above the highest seen is new; the window slides;
- a seq inside the window is a duplicate when its bit is set, unless the message carries a device
  timestamp newer than any seen from the device: then the device restarted and its counter began
  again (a smoke detector after a battery change), and the window restarts at that seq;
- a seq more than ``WINDOW`` below the highest cannot be checked any more and is taken as a
  counter restart too (accepted; the window restarts);
- a message without seq is never a duplicate.
Out of order: a message older than the newest one already seen from the device is kept (stored)
but must not rewind per-device state such as detectors; ``is_newest`` tells which is which.
"""

from __future__ import annotations

WINDOW = 64
_FULL = (1 << WINDOW) - 1


class _Arrivals:
    __slots__ = ("highest", "newest_ts", "seen")

    def __init__(self, highest: int, newest_ts: int) -> None:
        self.highest = highest
        self.seen = 1  # bit i: seq ``highest - i`` was seen
        self.newest_ts = newest_ts


class ArrivalTracker:
    def __init__(self) -> None:
        self._devices: dict[str, _Arrivals] = {}

    def __len__(self) -> int:
        return len(self._devices)

    def is_duplicate(self, device_id: str, seq: int | None, ts_ms: int,
                     device_clock: bool = True) -> bool:
        """Record the message and tell whether it repeats one already seen."""
        if seq is None:
            self._note_ts(device_id, ts_ms)
            return False
        state = self._devices.get(device_id)
        if state is None:
            self._devices[device_id] = _Arrivals(seq, ts_ms)
            return False
        if seq > state.highest:
            shift = seq - state.highest
            state.seen = ((state.seen << shift) | 1) & _FULL if shift < WINDOW else 1
            state.highest = seq
        else:
            offset = state.highest - seq
            restarted = device_clock and ts_ms > state.newest_ts
            if offset >= WINDOW or restarted:
                state.highest, state.seen = seq, 1
            elif state.seen >> offset & 1:
                return True
            else:
                state.seen |= 1 << offset
        if ts_ms > state.newest_ts:
            state.newest_ts = ts_ms
        return False

    def is_newest(self, device_id: str, ts_ms: int) -> bool:
        """True when no later message of the device has been seen (call after is_duplicate)."""
        state = self._devices.get(device_id)
        return state is None or ts_ms >= state.newest_ts

    def _note_ts(self, device_id: str, ts_ms: int) -> None:
        state = self._devices.get(device_id)
        if state is None:
            # No seq yet: an impossible "highest" keeps the first real seq from looking old.
            self._devices[device_id] = state = _Arrivals(-WINDOW - 1, ts_ms)
        elif ts_ms > state.newest_ts:
            state.newest_ts = ts_ms
