"""Daily living in the simulator's engine, through the gateway's own decoder and detection
engine (in process, on the reports' device time): an elderly-alone household's monitor records
its person's days; a scenario's ``no_activity`` (a fall) after the 21 days the welfare rule
learns raises a ``welfare_check`` for the household after the fall, and nothing before it; its
water meter reads the same life, and a ``water_leak`` raises the meter's leak rule.

The rule is set to judge after 5 learned days instead of 21 (``RhythmSettings.min_days``) so
that the run stays short; everything else is the gateway's default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_helpers import MIDNIGHT_CST, scenario_of

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.core.clock import ManualClock
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.rhythm import RhythmSettings
from gongzhi.gateway.messages import RawMessage
from gongzhi.simulators import living
from gongzhi.simulators.engine import SimulationEngine
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.layout import EstateLayout, build_layout
from gongzhi.simulators.outgoing import Message
from gongzhi.simulators.scenario import load_scenario

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
LEARN_DAYS = 5
FALL_DAY = 7  # after the learned days
ESTATE = """\
estate_id: sim
name: One flat
elderly_alone_share: 1.0
report_interval_s: {electrical: 60, water_meter: 900}
pump_room_sensors: 0
buildings:
  - {id: B01, floors: 1, households_per_floor: 1, risers_per_unit: 0, roof_tank: false,
     household: [electrical, water_meter], corridor: []}
"""


def one_flat(tmp_path: Path) -> EstateLayout:
    path = tmp_path / "one-flat.yaml"
    path.write_text(ESTATE, encoding="utf-8")
    return build_layout(load_estate_file(path), 0)


def run_days(layout: EstateLayout, scenario: str, duration_ms: int,
             ) -> tuple[list[Alarm], dict[int, float], dict[int, float], SimulationEngine]:
    """``duration_ms`` from a local midnight through decoder and detection; the alarms and the
    monitor's power by report time."""
    clock = ManualClock(MIDNIGHT_CST)
    engine = SimulationEngine(layout, scenario_of(scenario), MIDNIGHT_CST, 0, clock)
    decoder = Decoder(layout.registry())
    detection = DetectionEngine(layout.registry(),
                                DetectionConfig(welfare=RhythmSettings(min_days=LEARN_DAYS)))
    alarms: list[Alarm] = []
    power: dict[int, float] = {}
    water: dict[int, float] = {}
    for t in range(MIDNIGHT_CST + 10 * MINUTE, MIDNIGHT_CST + duration_ms + 1, 10 * MINUTE):
        clock.set(t)
        decoded = []
        for item in engine.advance(t):
            if isinstance(item, Message):
                decoded += decoder.decode(RawMessage(item.topic, item.payload, t))
        for message in decoded:
            value = getattr(message, "values", {}).get("power_w")
            if value is not None:
                power[message.ts_ms] = float(value)
            value = getattr(message, "values", {}).get("water_m3")
            if value is not None:
                water[message.ts_ms] = float(value)
        alarms += detection.process(decoded) + detection.tick(t)
    return alarms, power, water, engine


@pytest.mark.timeout(300)  # eight simulated days a minute at a time: about 30 s of CPU
def test_a_fall_in_a_scenario_raises_a_welfare_check_after_it_and_not_before(
        tmp_path: Path) -> None:
    layout = one_flat(tmp_path)
    fall = MIDNIGHT_CST + FALL_DAY * DAY + 7 * HOUR
    alarms, power, water, engine = run_days(
        layout, f"faults:\n  - {{at: {FALL_DAY * 24 + 7}h, kind: no_activity}}\n",
        FALL_DAY * DAY + 7 * HOUR + 32 * HOUR)
    truth = engine.take_truth()
    assert [(t.fault, t.start_ms) for t in truth] == [("no_activity", fall)]
    assert truth[0].expected is not None
    assert truth[0].expected.kind is AlarmKind.WELFARE_CHECK

    # The household lived: days of appliance uses (kettle-sized steps), quiet nights.
    ts = np.array(sorted(power))
    watts = np.array([power[t] for t in ts])
    assert len(ts) > FALL_DAY * 24 * 60
    steps = np.abs(np.diff(watts[ts < fall])) >= 1000
    assert steps.sum() >= FALL_DAY * 2

    welfare = [a for a in alarms if a.kind is AlarmKind.WELFARE_CHECK
               and a.state is AlarmState.RAISE]
    assert welfare, "the fall was not found"
    assert not [a for a in alarms if a.kind is AlarmKind.WATER_LEAK]
    assert all(a.ts_ms > fall for a in welfare), [a.ts_ms for a in welfare]
    assert welfare[0].ts_ms - fall < 32 * HOUR
    assert {a.device_id for a in welfare} <= {r.device_id for r in engine.records}
    # The meter: water drawn most days before the fall, none after it.
    meter_ts = np.array(sorted(water))
    reading = np.array([water[t] for t in meter_ts])
    assert (np.diff(reading) >= 0).all()
    assert reading[meter_ts < fall][-1] - reading[0] > 0.02 * (FALL_DAY - 1)
    assert reading[-1] == reading[meter_ts <= fall + 15 * MINUTE][-1]
    # After the fall nothing is switched on (what ran may end: a cooker's timer).
    after = watts[ts >= fall + MINUTE]
    assert (np.diff(after) < 150).all()


def test_a_water_leak_in_a_scenario_raises_the_meters_leak_rule(tmp_path: Path) -> None:
    layout = one_flat(tmp_path)
    leak = MIDNIGHT_CST + 2 * HOUR  # at night: nobody's use hides the constant flow
    alarms, _, water, engine = run_days(
        layout, "faults:\n  - {at: 2h, kind: water_leak, params: {litres_per_hour: 30}}\n",
        7 * HOUR)
    [truth] = engine.take_truth()
    assert truth.expected is not None and truth.expected.kind is AlarmKind.WATER_LEAK
    meter = truth.device_id
    assert meter is not None and meter.endswith("-WM")
    leaks = [a for a in alarms if a.kind is AlarmKind.WATER_LEAK and a.state is AlarmState.RAISE]
    assert [a.device_id for a in leaks] == [meter]
    assert leak + 3 * HOUR <= leaks[0].ts_ms <= leak + 4 * HOUR
    ts = np.array(sorted(water))
    flowed = water[int(ts[-1])] - water[int(ts[ts <= leak][-1])]
    assert flowed >= 0.03 * 4.5


def test_the_shipped_welfare_estate_and_scenario_fit_together() -> None:
    layout = build_layout(load_estate_file("welfare"), 0)
    records = [d.record for d in layout.devices]
    assert all(r.elderly_alone and r.household for r in records)
    assert sorted(r.type.value for r in records) == ["electrical", "electrical", "water_meter",
                                                     "water_meter"]
    [fall] = load_scenario("welfare").timed
    assert fall.spec.kind == "no_activity" and fall.at_ms >= 22 * DAY
    assert fall.spec.target.device in {r.device_id for r in records}


@pytest.mark.parametrize("seed", [106, 140, 170])
def test_a_use_after_the_last_minute_of_a_block_is_left_to_the_next(seed: int) -> None:
    """These people's last evening runs past the block's end (a late bed): that use is not in
    the block (it raised an IndexError), and every minute of the block is still given."""
    days = living.simulate(seed, MIDNIGHT_CST, 1)
    assert days.power_w.size == 1440 and np.isfinite(days.power_w).all()
    assert (np.diff(days.water_m3) >= 0).all()
