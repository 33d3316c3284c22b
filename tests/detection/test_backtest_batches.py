"""The backtest takes consecutive seconds of rows to the engine together (``backtest.batches``):
the alarms must be those of one batch a second, as the gateway ticking every second sees them,
on an estate where rules read devices together (a floor's smoke detectors, a landing's circuits,
a riser's sensors), devices fall silent and come back, and every device reports at its own
seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gongzhi.core.alarms import Alarm
from gongzhi.devices.registry import Registry, load_registry
from gongzhi.gateway.backtest.batches import Seconds, ranks, silence_ticks, windows
from gongzhi.gateway.backtest.replay import Replay
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.service import default_detector

T0 = 1_767_225_600_000
MINUTE = 60_000
HEADER = ("device_id,type,estate_id,building,unit,floor,room,elderly_alone,report_interval_s,"
          "household,position,riser")


def _with_gaps(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    """Rows kept: a device falls silent once or twice (offline, then back)."""
    keep = np.ones(ts.size, np.bool_)
    for _ in range(int(rng.integers(1, 3))):
        start = int(rng.integers(0, ts.size))
        keep[start:start + int(rng.integers(5, 60))] = False
    return keep


def _times(rng: np.random.Generator, hours: float, every_ms: int) -> np.ndarray:
    return T0 + np.arange(0, int(hours * 3_600_000), every_ms) + int(rng.integers(0, every_ms))


def estate(tmp_path: Path, seed: int, hours: float = 6) -> tuple[Registry, list[DeviceSeries]]:
    """Two floors: per floor two households (a circuit monitor with charger-like loads and
    kettles, a smoke detector with smoke and heat now and then), a landing (its monitor, its
    smoke detector) and a riser of three pressure sensors with a drifting one and a drop."""
    rng = np.random.default_rng(seed)
    rows, series = [HEADER], []
    for floor in range(2):
        for flat in range(2):
            home = f"h{floor}{flat}"
            alone = int(flat == 0)  # watched for welfare, with a water meter
            rows.append(f"em-{home},electrical,e1,b1,1,{floor},{flat},{alone},60,{home},"
                        "household,")
            ts = _times(rng, hours, MINUTE)
            power = 80 + rng.normal(0, 4, ts.size)
            for _ in range(3):
                at, n = int(rng.integers(0, ts.size)), int(rng.integers(40, 160))
                level = rng.uniform(80, 400)
                shape = np.concatenate([np.full(n // 2, level), np.linspace(level, 5, n - n // 2)])
                power[at:at + n] += shape[:max(0, min(n, ts.size - at))]
                power[int(rng.integers(0, ts.size - 3)):][:3] += 2000  # a kettle
            keep = _with_gaps(rng, ts)
            series.append(DeviceSeries(f"em-{home}", ts[keep], {
                "power_w": power[keep], "current_a": power[keep] / 230}))
            if alone:
                rows.append(f"wm-{home},water_meter,e1,b1,1,{floor},{flat},1,900,{home},,")
                ts = _times(rng, hours, 15 * MINUTE)
                used = np.cumsum(rng.exponential(0.01, ts.size) * (rng.random(ts.size) < 0.5))
                series.append(DeviceSeries(f"wm-{home}", ts, {"water_m3": 100 + used}))
            rows.append(f"sd-{home},smoke,e1,b1,1,{floor},{flat},0,120,{home},household,")
            ts = _times(rng, hours, 2 * MINUTE)
            smoke, temp = np.full(ts.size, 0.01), np.full(ts.size, 21.0)
            for _ in range(2):
                at = int(rng.integers(0, ts.size))
                smoke[at:at + int(rng.integers(1, 6))] = rng.uniform(0.1, 1.5)
                temp[at:at + 3] += rng.uniform(0, 30)
            keep = _with_gaps(rng, ts)
            series.append(DeviceSeries(f"sd-{home}", ts[keep], {
                "smoke_db_m": smoke[keep], "temp_c": temp[keep]}))
        rows.append(f"em-l{floor},electrical,e1,b1,1,{floor},L,0,60,,corridor,")
        ts = _times(rng, hours, MINUTE)
        power = 30 + rng.normal(0, 2, ts.size)
        at = int(rng.integers(0, ts.size - 150))
        power[at:at + 150] += np.concatenate([np.full(75, 200.0), np.linspace(200, 10, 75)])
        series.append(DeviceSeries(f"em-l{floor}", ts, {"power_w": power,
                                                        "current_a": power / 230}))
        rows.append(f"sd-l{floor},smoke,e1,b1,1,{floor},L,0,120,,corridor,")
        ts = _times(rng, hours, 2 * MINUTE)
        smoke = np.full(ts.size, 0.01)
        smoke[int(rng.integers(0, ts.size)):][:4] = 0.8
        series.append(DeviceSeries(f"sd-l{floor}", ts, {"smoke_db_m": smoke,
                                                        "temp_c": np.full(ts.size, 22.0)}))
    for sensor in range(3):
        rows.append(f"wp-{sensor},water_pressure,e1,b1,1,{sensor},,0,10,,,R1")
        ts = _times(rng, hours, 10_000)
        pressure = 0.3 + 0.02 * np.sin(np.arange(ts.size) / 500) + rng.normal(0, 0.003, ts.size)
        if sensor == 0:
            pressure += np.linspace(0, 0.1, ts.size)
        pressure[int(rng.integers(0, ts.size)):][:30] -= 0.2
        keep = _with_gaps(rng, ts)
        series.append(DeviceSeries(f"wp-{sensor}", ts[keep], {"pressure_mpa": pressure[keep]}))
    path = tmp_path / f"registry-{seed}.csv"
    path.write_text("\n".join(rows) + "\n")
    return load_registry(path), series


class CountingEngine(DetectionEngine):
    """The gateway's engine, counting the batches of rows its rules and presence are given."""

    batches = 0
    presence = 0

    def telemetry_columns(self, slots: Any, ts: Any, values: Any, rank: Any = None
                          ) -> list[Alarm]:
        self.batches += 1
        return super().telemetry_columns(slots, ts, values, rank)

    def seen(self, slots: Any, received_ms: Any) -> list[Alarm]:
        self.presence += 1
        return super().seen(slots, received_ms)


class OneSecondAtATime:
    """The gateway's engine as the gateway drives it: messages (``process``), a batch a second,
    ticked (the replay's path for a detector that is not the engine itself)."""

    def __init__(self, engine: DetectionEngine) -> None:
        self.engine = engine

    def process(self, messages: Any) -> list[Alarm]:
        return self.engine.process(messages)

    def tick(self, now_ms: int) -> list[Alarm]:
        return self.engine.tick(now_ms)


def engine_for(registry: Registry) -> CountingEngine:
    config = default_detector(registry).config  # type: ignore[attr-defined]
    return CountingEngine(registry, config)


def canonical(alarms: list[Alarm]) -> list[str]:
    return sorted(json.dumps(a.to_dict(), sort_keys=True) for a in alarms)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rounds_across_devices_give_the_alarms_of_a_batch_a_second(tmp_path: Path,
                                                                   seed: int) -> None:
    registry, series = estate(tmp_path, seed)
    engine = engine_for(registry)
    replayed = list(Replay(registry, detector_factory=lambda _r: engine).run(series))
    seconds = len(np.unique(np.concatenate([s.ts for s in series]) // 1000))
    # Many rows a batch, or the test would prove nothing:
    assert engine.batches < seconds / 20 and engine.presence < seconds / 2
    assert [a.ts_ms for a in replayed] == sorted(a.ts_ms for a in replayed)
    gateway = list(Replay(registry, detector_factory=lambda r: OneSecondAtATime(
        engine_for(r))).run(series))
    assert canonical(replayed) == canonical(gateway)
    kinds = {a.kind.value for a in gateway}
    assert {"fire", "smoke_alarm", "device_offline", "ebike_charging"} <= kinds, kinds


def test_devices_read_together_keep_their_rounds_second_by_second() -> None:
    # Slots 0 and 1 are read together (component 0), slot 2 alone. Rows in time order:
    #   second 0: 0, 2, 0     second 1: 1, 2     second 3: 0, 1
    slots = np.array([0, 2, 0, 1, 2, 0, 1])
    ts = np.array([0, 100, 900, 1_000, 1_500, 3_000, 3_200])
    # Second 0 takes rounds 0 and 1 (slot 0 twice), second 1 round 2, second 3 round 3;
    # slot 2, read alone, its rows in rounds 0 and 1.
    assert ranks(slots, ts, np.array([0, 0, -1])).tolist() == [0, 0, 1, 2, 1, 3, 3]
    assert ranks(slots, ts, np.array([-1, -1, -1])).tolist() == [0, 0, 1, 0, 1, 2, 1]


def test_windows_hold_whole_rounds() -> None:
    ordered = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 4])
    assert windows(ordered, 4) == [(0, 4), (4, 6), (6, 10), (10, 11)]
    assert windows(ordered, 2) == [(0, 3), (3, 4), (4, 6), (6, 10), (10, 11)]
    assert windows(ordered, 100) == [(0, 11)]


def test_presence_takes_seconds_together_until_a_tick_or_a_device_coming_back() -> None:
    slots = np.array([0, 1, 0, 1, 0, 1, 2, 0])
    ts = np.array([0, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000])
    seconds = Seconds(slots, ts)
    online = lambda s: np.zeros(s.size, np.bool_)  # noqa: E731
    assert seconds.merged_end(0, None, online) == 7  # every second
    assert seconds.merged_end(0, 4_000, online) == 4  # seconds 0-3 are before the tick at 4 s
    assert seconds.merged_end(0, 1_000, online) == 1
    back = lambda s: s == 2  # noqa: E731
    assert seconds.merged_end(0, None, back) == 5  # device 2 is back at second 5: alone
    assert seconds.merged_end(5, None, back) == 6


def test_silences_are_read_from_the_rows() -> None:
    # Device 0 reports at 0, 10, 20 and 70 s, device 1 at 0.5 and 40.5 s, device 2 never;
    # each offline after 30 s of silence. The first tick is at 1 s.
    slots = np.array([0, 1, 0, 0, 1, 0])
    ts = np.array([0, 500, 10_000, 20_000, 40_500, 70_000])
    ticks = silence_ticks(slots, ts, np.full(3, 30_000), first_rows=2)
    # 31 s: device 1 silent since 0.5 s; 32 s: device 2 since the first tick; 51 s: device 0
    # since 20 s; then after each one's last report: 71 s (device 1), 101 s (device 0).
    assert ticks.tolist() == [31_000, 32_000, 51_000, 71_000, 101_000]
