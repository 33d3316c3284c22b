"""End to end in process: the simulators' messages through the gateway's decoder and duplicate
filter into the engine, scored against the ground truth the simulator wrote. Development seeds
only (the benchmark reports others)."""

from __future__ import annotations

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.core.config_kit import parse_yaml
from gongzhi.devices.catalogue import DeviceType
from gongzhi.evaluation.simeval import DEVELOPMENT_SEEDS, MIDNIGHT_MS, REPORT_SEEDS, SimSpec, run
from gongzhi.evaluation.simscore import evaluate
from gongzhi.simulators.scenario import parse_scenario

HOUR = 3_600_000

# Three hours of the small estate's smoke detectors (18 households, 6 landings) with a fire or
# a single smoke alarm every quarter of an hour and cooking smoke every three minutes or so
# (each household's detector smells its kitchen about hourly, for seconds to minutes).
SMOKE_HOURS = """
name: smoke-hours
random:
  - {every: 3m, jitter: 0.5, start: 10s, limit: 60, kinds: {cooking_smoke: 1}}
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
    # The single smoke alarm's smoke rises for up to a minute, then the rule's 5 s.
    assert score.kind("smoke_alarm").delays_ms[0] <= 70_000


def test_hours_of_fires_smoke_alarms_and_cooking_on_the_small_estate() -> None:
    scenario = parse_scenario(parse_yaml(SMOKE_HOURS, "<test>"), "smoke-hours")
    seed = DEVELOPMENT_SEEDS[4]
    result = run(SimSpec("small", scenario, 3 * HOUR, seed=seed, start_ms=MIDNIGHT_MS + 9 * HOUR,
                         device_types={DeviceType.SMOKE}))
    score = evaluate(result)
    fire, alarm = score.kind("fire"), score.kind("smoke_alarm")
    assert fire.expected >= 4 and alarm.expected >= 4
    # Every fault counts, those still open at the end of the run too.
    fires = [t for t in result.truth if t["fault"] == "fire"]
    assert fire.expected == len(fires)
    assert fire.open_at_end == sum(t["end_ms"] + 15 * 60_000 > result.end_ms for t in fires)
    assert alarm.recall == 1.0
    # Flaming fires are confirmed within minutes of ignition; smouldering ones, if at all, when
    # the smoke reaches the corridor.
    assert fire.recall is not None and fire.recall >= 0.6
    assert fire.delays_ms and min(fire.delays_ms) < 90_000
    assert score.cooking_spikes >= 55
    # Long cooking sounds detectors: nuisance smoke alarms, false for precision all the same.
    assert 0 < score.cooking_smoke_alarms <= score.false_by_kind["smoke_alarm"]
    assert score.cooking_fires <= score.false_by_kind["fire"]
    raised = [a for a in result.alarms if a.state is AlarmState.RAISE]
    assert len([a for a in raised if a.kind is AlarmKind.FIRE]) == (
        fire.true_raised + score.false_by_kind["fire"])


def test_development_and_report_seeds_are_apart() -> None:
    assert not set(DEVELOPMENT_SEEDS) & set(REPORT_SEEDS)
    assert SimSpec("small", "all-faults", HOUR).seed in DEVELOPMENT_SEEDS


def test_the_warm_up_is_not_scored() -> None:
    """An e-bike alarm whose step came in the warm-up is the warm-up's, even raised after it; a
    fault begun in the warm-up is not expected; the household-days count from its end."""
    from gongzhi.core.alarms import Alarm
    from gongzhi.devices.registry import DeviceRecord, Location, Registry
    from gongzhi.evaluation.simeval import SimRun

    start, warm = MIDNIGHT_MS + 12 * HOUR, 6 * HOUR
    spec = SimSpec("small", "all-faults", 14 * HOUR, start_ms=start, warmup_ms=warm)
    record = DeviceRecord("em-1", DeviceType.ELECTRICAL, Location("e1", "b1", "1", "1", "101"),
                          household="h1")

    def ebike(step_ms: int, raised_ms: int) -> Alarm:
        return Alarm(f"al-{step_ms}", AlarmKind.EBIKE_CHARGING, "em-1", "e1", raised_ms,
                     evidence={"window": {"start_ms": step_ms, "end_ms": raised_ms}})

    def charge(start_ms: int) -> dict[str, object]:
        return {"fault": "ebike_charging", "device_id": "em-1", "devices": [], "also": [],
                "building": "b1", "start_ms": start_ms, "end_ms": start_ms + 5 * HOUR,
                "expected": {"kind": "ebike_charging"}}

    result = SimRun(spec, Registry([record]), start + 14 * HOUR,
                    alarms=[ebike(start + HOUR, start + 3 * HOUR),  # step in the warm-up
                            ebike(start + 5 * HOUR, start + 7 * HOUR),  # step in it too
                            ebike(start + 7 * HOUR, start + 8 * HOUR),  # false, counted
                            ebike(start + 9 * HOUR, start + 11 * HOUR)],  # the charge's
                    truth=[charge(start + 2 * HOUR), charge(start + 9 * HOUR)])
    score = evaluate(result)
    assert score.false_by_kind["ebike_charging"] == 1
    assert score.kind("ebike_charging").expected == 1
    assert score.kind("ebike_charging").recall == 1.0
    assert score.household_days == 8 / 24
    assert spec.describe()["warmup_h"] == 6
