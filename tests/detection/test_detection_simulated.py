"""End to end in process: the simulators' messages through the gateway's decoder and duplicate
filter into the engine, scored against the ground truth the simulator wrote."""

from __future__ import annotations

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.evaluation.simeval import MIDNIGHT_MS, SimSpec, run
from gongzhi.evaluation.simscore import evaluate
from gongzhi.simulators.scenario import parse_scenario
from gongzhi.simulators.yamlfile import parse_yaml

HOUR = 3_600_000

# Three hours of the small estate's smoke detectors (18 households, 6 landings) with a fire or
# a single smoke alarm every quarter of an hour and a cooking spike every half minute or so.
SMOKE_HOURS = """
name: smoke-hours
random:
  - {every: 25s, jitter: 0.5, start: 10s, limit: 400, kinds: {cooking_smoke: 1}}
  - {every: 15m, jitter: 0.2, start: 5m, limit: 12, kinds: {fire: 1, smoke_alarm: 1}}
"""


def test_first_ten_minutes_of_all_faults() -> None:
    result = run(SimSpec("small", "all-faults", 12 * 60_000, start_ms=MIDNIGHT_MS + 8 * HOUR))
    score = evaluate(result)
    assert score.precision == 1.0, score.false_by_kind
    for kind in ("fire", "smoke_alarm", "tamper", "low_battery", "water_pressure_drop",
                 "electrical_leakage", "water_pressure_high"):
        assert score.kind(kind).recall == 1.0, kind
    # Cooking smoke is in the ground truth as false-alarm material: no ticket expected, and
    # the perfect precision above says none was raised on it.
    assert score.cooking_spikes == 1 and score.cooking_fires == 0
    assert score.kind("smoke_alarm").threshold_delays_ms[0] <= 10_000


def test_hours_of_fires_smoke_alarms_and_cooking_on_the_small_estate() -> None:
    scenario = parse_scenario(parse_yaml(SMOKE_HOURS, "<test>"), "smoke-hours")
    result = run(SimSpec("small", scenario, 3 * HOUR, seed=4, start_ms=MIDNIGHT_MS + 9 * HOUR,
                         device_types={DeviceType.SMOKE}))
    score = evaluate(result)
    fire, alarm = score.kind("fire"), score.kind("smoke_alarm")
    assert fire.expected >= 4 and alarm.expected >= 4
    assert (fire.recall, alarm.recall) == (1.0, 1.0)
    assert score.cooking_spikes >= 300
    assert score.cooking_fires == 0 and score.false_by_kind["fire"] == 0
    assert score.precision is not None and score.precision >= 0.99, score.false_by_kind
    # Within 10 s of the detectors' reports meeting the condition.
    assert max(fire.threshold_delays_ms + alarm.threshold_delays_ms) <= 10_000
    fires = [a for a in result.alarms
             if a.kind is AlarmKind.FIRE and a.state is AlarmState.RAISE]
    assert len(fires) == fire.true_raised
