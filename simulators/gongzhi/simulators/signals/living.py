"""Daily living in the estate's households: one simulated person each
(``gongzhi.simulators.living``: wake and bed times, appliance uses, outings, weekdays and
weekends). The whole-home power of elderly-alone households' electrical monitors follows their
person (instead of the estate's generic household load), so the gateway's passive care can
learn their rhythm and see a fall; every household water meter reports its person's cumulative
``water_m3``.

Each household's days are drawn in blocks of ``BLOCK_DAYS`` from the local midnight at or
before the simulation's start; the person of a household is the same throughout a block (a new
block draws a new person: runs longer than ``BLOCK_DAYS`` see a change of habits). A fault of
daily living (a fall, a trip, a leak) redraws the blocks it touches from its start on; what
came before it stays as it was. Pure: the same seed and faults give the same signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from gongzhi.simulators import living
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import FloatArray, IntArray

BLOCK_DAYS = 64
_PER_BLOCK_MIN = BLOCK_DAYS * 24 * 60
_WATER_PER_BLOCK = BLOCK_DAYS * living.DAY_MS // living.WATER_REPORT_MS


class LivingSignal:
    """The simulated days of the households of ``devices`` (indexes into the layout: monitors
    and meters; a household's devices share its person)."""

    def __init__(self, layout: EstateLayout, devices: IntArray, seed: int,
                 start_ms: int) -> None:
        utc = layout.estates[0].utc_offset_h if layout.estates else 8.0
        self.utc_offset_h = utc
        offset = round(utc * living.HOUR_MS)
        self.origin_ms = (start_ms + offset) // living.DAY_MS * living.DAY_MS - offset
        self.household = {int(g): layout.devices[int(g)].record.household or str(int(g))
                          for g in devices}
        names = sorted(set(self.household.values()))
        draws = np.random.default_rng([seed, 6]).integers(0, 2**31, max(len(names), 1))
        self.person_seed = {h: int(draws[k]) for k, h in enumerate(names)}
        self.faults: dict[str, list[living.Fault]] = {}
        self._blocks: dict[tuple[str, int], living.Living] = {}
        # A block's first meter reading as first drawn: a redrawn block (after a fault) keeps
        # it, so the meter does not jump (its starting reading is drawn after the days).
        self._first_m3: dict[tuple[str, int], float] = {}

    def add_fault(self, device: int, fault: living.Fault) -> None:
        """From ``fault.start_ms`` on the household of ``device`` lives with ``fault``
        (no_activity, away, water_leak)."""
        household = self.household[device]
        self.faults.setdefault(household, []).append(fault)
        first = max((fault.start_ms - self.origin_ms) // (BLOCK_DAYS * living.DAY_MS), 0)
        for key in [k for k in self._blocks if k[0] == household and k[1] >= first]:
            del self._blocks[key]

    def power_w(self, devices: IntArray, ts: IntArray) -> FloatArray:
        """The whole-home power of each ``devices[i]``'s household at ``ts[i]`` (its
        minute's)."""
        minute = (ts - self.origin_ms) // living.MINUTE_MS
        return self._take(devices, minute, _PER_BLOCK_MIN, "power_w")

    def water_m3(self, devices: IntArray, ts: IntArray) -> FloatArray:
        """The meter reading of each ``devices[i]``'s household at ``ts[i]`` (its quarter
        hour's)."""
        quarter = (ts - self.origin_ms) // living.WATER_REPORT_MS
        return self._take(devices, quarter, _WATER_PER_BLOCK, "water_m3")

    def _take(self, devices: IntArray, index: IntArray, per_block: int,
              column: str) -> FloatArray:
        out = np.empty(len(devices))
        for i, (g, k) in enumerate(zip(devices.tolist(), index.tolist(), strict=True)):
            block, row = divmod(max(int(k), 0), per_block)
            days = self._block(self.household[int(g)], block)
            out[i] = getattr(days, column)[row]
        return out

    def _block(self, household: str, block: int) -> living.Living:
        key = (household, block)
        days = self._blocks.get(key)
        if days is None:
            start = self.origin_ms + block * BLOCK_DAYS * living.DAY_MS
            days = living.simulate(self.person_seed[household] + 7919 * block, start,
                                   BLOCK_DAYS, self.utc_offset_h,
                                   tuple(self.faults.get(household, ())))
            first = self._first_m3.setdefault(key, float(days.water_m3[0]))
            days.water_m3 = np.round(days.water_m3 + (first - float(days.water_m3[0])), 3)
            self._blocks[key] = days
        return days


class WaterMeterModel:
    """The engine's signal model of household water meters: their household's living."""

    NEUTRAL_INPUTS: ClassVar[Mapping[str, float]] = {}

    def __init__(self, devices: IntArray, signal: LivingSignal) -> None:
        self.devices = devices
        self.signal = signal

    def sample(self, local: IntArray, ts: IntArray, key: IntArray, count: IntArray,
               inputs: dict[str, FloatArray]) -> dict[str, FloatArray]:
        return {"water_m3": self.signal.water_m3(self.devices[local], ts)}
