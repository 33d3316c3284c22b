"""Daily living in the estate's elderly-alone households: the whole-home power their electrical
monitors report follows one simulated person each (``gongzhi.simulators.living``: wake and bed
times, appliance uses, outings, weekdays and weekends), instead of the estate's generic
household load, so the gateway's passive care can learn their rhythm and see a fall.

Each household's days are drawn in blocks of ``BLOCK_DAYS`` from the local midnight at or
before the simulation's start; the person of a household is the same throughout a block (a new
block draws a new person: runs longer than ``BLOCK_DAYS`` see a change of habits). A fault of
daily living (a fall, a trip, a leak) redraws the blocks it touches from its start on; what
came before it stays as it was. Pure: the same seed and faults give the same power.
"""

from __future__ import annotations

import numpy as np

from gongzhi.simulators import living
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import FloatArray, IntArray

BLOCK_DAYS = 64


class LivingSignal:
    """Per-minute whole-home power (W) of the households whose electrical monitors are in
    ``devices`` (indexes into the layout), one simulated person each."""

    def __init__(self, layout: EstateLayout, devices: IntArray, seed: int,
                 start_ms: int) -> None:
        utc = layout.estates[0].utc_offset_h if layout.estates else 8.0
        self.utc_offset_h = utc
        offset = round(utc * living.HOUR_MS)
        self.origin_ms = (start_ms + offset) // living.DAY_MS * living.DAY_MS - offset
        draws = np.random.default_rng([seed, 6]).integers(0, 2**31, max(len(devices), 1))
        self.person_seed = {int(g): int(draws[k]) for k, g in enumerate(devices)}
        self.faults: dict[int, list[living.Fault]] = {}
        self._blocks: dict[tuple[int, int], FloatArray] = {}

    def covers(self, device: int) -> bool:
        return device in self.person_seed

    def add_fault(self, device: int, fault: living.Fault) -> None:
        """From ``fault.start_ms`` on the household lives with ``fault`` (no_activity, away,
        water_leak)."""
        self.faults.setdefault(device, []).append(fault)
        first = max((fault.start_ms - self.origin_ms) // self._block_ms, 0)
        for key in [k for k in self._blocks if k[0] == device and k[1] >= first]:
            del self._blocks[key]

    @property
    def _block_ms(self) -> int:
        return BLOCK_DAYS * living.DAY_MS

    def power_w(self, devices: IntArray, ts: IntArray) -> FloatArray:
        """The whole-home power of each ``devices[i]`` at ``ts[i]`` (its minute's value)."""
        out = np.empty(len(devices))
        minute = (ts - self.origin_ms) // living.MINUTE_MS
        per_block = BLOCK_DAYS * 24 * 60
        for i, (g, m) in enumerate(zip(devices.tolist(), minute.tolist(), strict=True)):
            block, row = divmod(max(int(m), 0), per_block)
            out[i] = self._block(int(g), block)[row]
        return out

    def _block(self, device: int, block: int) -> FloatArray:
        key = (device, block)
        power = self._blocks.get(key)
        if power is None:
            start = self.origin_ms + block * self._block_ms
            days = living.simulate(self.person_seed[device] + 7919 * block, start, BLOCK_DAYS,
                                   self.utc_offset_h, tuple(self.faults.get(device, ())))
            power = days.power_w
            self._blocks[key] = power
        return power
