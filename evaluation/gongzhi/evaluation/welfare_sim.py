"""Passive care on simulated households (``gongzhi.simulators.living``): each household learns
its rhythm for ``LEARN_DAYS`` days, then its person falls (``no_activity``) at a time drawn per
household; the delay is from the fall to the ``welfare_check`` RAISE, through the gateway's
detection engine by the backtest's replay (as ``gongzhi backtest``). Households of one run share
one replay, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.backtest.replay import Replay
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.detection.presence import offline_after_ms
from gongzhi.gateway.detection.welfare import WelfareWatch
from gongzhi.gateway.messages import Telemetry
from gongzhi.simulators.living import DAY_MS, HOUR_MS, Fault, Living, simulate

# A Monday, local midnight in Asia/Shanghai (the default estate timezone).
START_MS = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000) - 8 * HOUR_MS
LEARN_DAYS = 28


def household_records(name: str, *, water: bool = True) -> list[DeviceRecord]:
    where = Location("sim", "B1", "1", "3", name)
    monitor = DeviceRecord(f"{name}-em", DeviceType.ELECTRICAL, where, elderly_alone=True,
                           settings={"report_interval_s": 60.0}, household=name,
                           position="household")
    meter = DeviceRecord(f"{name}-wm", DeviceType.WATER_METER, where, elderly_alone=True,
                         settings={"report_interval_s": 900.0}, household=name)
    return [monitor, meter] if water else [monitor]


def household_series(name: str, living: Living, *, water: bool = True) -> list[DeviceSeries]:
    series = [DeviceSeries(f"{name}-em", living.ts,
                           {"power_w": living.power_w, "voltage_v": living.voltage_v,
                            "current_a": np.round(living.power_w / 220.0, 3)})]
    if water:
        series.append(DeviceSeries(f"{name}-wm", living.water_ts, {"water_m3": living.water_m3}))
    return series


def welfare_alarms(registry: Registry, series: Sequence[DeviceSeries],
                   config: DetectionConfig | None = None) -> list[Alarm]:
    engine_config = config or DetectionConfig()
    replay = Replay(registry, detector_factory=lambda r: DetectionEngine(r, engine_config))
    return [a for a in replay.run(series) if a.kind is AlarmKind.WELFARE_CHECK]


@dataclass(frozen=True, slots=True)
class FallResult:
    seed: int
    fall_ms: int
    raised_ms: int | None  # None: never raised
    false_before: int  # RAISEs before the fall
    left_on: bool = False  # the fall left a light on (else everything off)

    @property
    def delay_h(self) -> float | None:
        return None if self.raised_ms is None else (self.raised_ms - self.fall_ms) / HOUR_MS


def falls(seeds: Sequence[int], *, days_after: int = 2, water: bool = True,
          engine: bool = True) -> list[FallResult]:
    """One household per seed, falling on the day after ``LEARN_DAYS`` at a time of its day
    drawn from the seed (06:00-22:00 local)."""
    records: list[DeviceRecord] = []
    series: list[DeviceSeries] = []
    fall_at: dict[str, tuple[int, int, bool]] = {}
    for seed in seeds:
        name = f"h{seed}"
        rng = np.random.default_rng([seed, 1])
        fall = START_MS + LEARN_DAYS * DAY_MS + int(rng.uniform(6.0, 22.0) * HOUR_MS)
        living = simulate(seed, START_MS, LEARN_DAYS + days_after,
                          faults=(Fault("no_activity", fall),))
        records += household_records(name, water=water)
        series += household_series(name, living, water=water)
        fall_at[f"{name}-em"] = (seed, fall, living.left_on)
    alarms = (welfare_alarms if engine else watch_alarms)(Registry(records), series)
    results = []
    for device, (seed, fall, left_on) in fall_at.items():
        raises = [a.ts_ms for a in alarms
                  if a.device_id == device and a.state is AlarmState.RAISE]
        after = [t for t in raises if t >= fall]
        results.append(FallResult(seed, fall, min(after) if after else None,
                                  sum(1 for t in raises if t < fall), left_on))
    return results


def telemetry_rows(registry: Registry, series: Sequence[DeviceSeries]) -> list[Telemetry]:
    """The series' rows as the gateway's decoder hands them to detection, in time order."""
    rows: list[Telemetry] = []
    for s in series:
        record = registry.get(s.device_id)
        if record is None:
            raise KeyError(f"{s.device_id} is not in the registry")
        names = list(s.values)
        columns = [s.values[n].tolist() for n in names]
        for i, t in enumerate(s.ts.tolist()):
            rows.append(Telemetry(s.device_id, record.estate_id, record.type, t,
                                  {n: c[i] for n, c in zip(names, columns, strict=True)}, t))
    rows.sort(key=lambda m: m.ts_ms)
    return rows


def new_watch(registry: Registry, config: DetectionConfig | None = None) -> WelfareWatch:
    """The welfare rule the engine builds for ``registry``, on its own."""
    engine_config = config or DetectionConfig()
    index = DeviceIndex(registry)
    return WelfareWatch(index, offline_after_ms(index).tolist(), engine_config.timezone,
                        engine_config.welfare)


def watch_alarms(registry: Registry, series: Sequence[DeviceSeries],
                 config: DetectionConfig | None = None) -> list[Alarm]:
    """The welfare rule alone (the engine's own ``WelfareWatch``, without the other rules), fed
    the same rows in time order: for checks that need many simulated days quickly."""
    return new_watch(registry, config).observe(telemetry_rows(registry, series))
