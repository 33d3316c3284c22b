"""E-bike charging from the load signature, against the loads of a household's life: air
conditioning at night (compressor cycling, or an inverter's swings), kettles, cookers,
televisions, heaters; on household circuits and on a landing's distribution box."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from detection_support import T0, record, run_stream, telemetry

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.detection import DetectionEngine

MINUTE = 60.0
HOUR = 3600.0
REPORT_S = 30.0
SPAN_S = 34 * HOUR
LOCAL = -8 * HOUR  # t = 0 is local midnight (UTC+8); T0 is 08:00 local

Load = Callable[[float], float]


def household_base(t: float) -> float:
    """Standby and lights, 110 W, with a fridge cycling 100 W (20 min on, 40 min off)."""
    return 110.0 + (100.0 if t % HOUR < 20 * MINUTE else 0.0)


def charger(start: float, watts: float = 250.0, cc_h: float = 3.5, taper_h: float = 1.5) -> Load:
    """Constant current (the draw creeping up 92 % to 100 % with the battery's voltage), then
    constant voltage (the draw tapering away)."""
    def power(t: float) -> float:
        x = t - start
        if x < 0 or x > (cc_h + taper_h) * HOUR:
            return 0.0
        if x < cc_h * HOUR:
            return watts * (0.92 + 0.08 * x / (cc_h * HOUR))
        return watts * math.exp(-3.0 * (x - cc_h * HOUR) / (taper_h * HOUR))
    return power


def between(start: float, end: float, load: Load) -> Load:
    return lambda t: load(t) if start <= t < end else 0.0


def ac_cycling(watts: float = 900.0) -> Load:
    """A fixed-speed air conditioner: the compressor 15 min on, 6 min off (the fan stays)."""
    return lambda t: watts * (1.0 + 0.05 * math.sin(t / 40.0)) if t % (21 * MINUTE) < 15 * MINUTE \
        else 45.0


def ac_inverter(watts: float, seed: int) -> Load:
    """An inverter air conditioner: its draw swings between 60 % and 100 % from one report to
    the next."""
    rng = np.random.default_rng(seed)
    swings = rng.uniform(0.6, 1.0, int(SPAN_S / REPORT_S) + 2)
    return lambda t: watts * float(swings[int(t // REPORT_S)])


def kettles_and_cooker(t: float) -> float:
    kettle = any(s <= t % (24 * HOUR) < s + 3 * MINUTE
                 for s in (7 * HOUR, 7.5 * HOUR, 12 * HOUR, 15 * HOUR, 19 * HOUR, 23 * HOUR))
    cooker = 18 * HOUR <= t % (24 * HOUR) < 18 * HOUR + 40 * MINUTE
    return 2000.0 * kettle + 1800.0 * cooker


def stair_lighting(t: float) -> float:
    hour = t % (24 * HOUR) / HOUR
    return 45.0 if hour >= 18.5 or hour < 6.5 else 8.0


def plus(*loads: Load) -> Load:
    return lambda t: sum(load(t) for load in loads)


HOUSEHOLD_CASES: dict[str, Load] = {
    "charger_at_night": charger(22.5 * HOUR),
    "small_charger_by_day": charger(10.5 * HOUR, watts=110.0),
    "large_charger": charger(1.5 * HOUR, watts=390.0),
    "ac_all_night": between(21 * HOUR, 31 * HOUR, ac_cycling()),
    "inverter_ac_all_night": between(21 * HOUR, 31 * HOUR, ac_inverter(1000.0, 1)),
    "small_inverter_ac": between(22 * HOUR, 30 * HOUR, ac_inverter(620.0, 2)),
    # The charger's step hides in the air conditioner's swings; the taper comes after.
    "charger_under_ac": plus(between(22 * HOUR, 25 * HOUR, ac_inverter(1000.0, 3)),
                             charger(23.5 * HOUR)),
    # The plateau is seen; the taper comes under the air conditioner.
    "taper_under_ac": plus(charger(21.5 * HOUR, watts=300.0),
                           between(24 * HOUR, 27 * HOUR, ac_inverter(900.0, 4))),
    "kettles_and_cooker": kettles_and_cooker,
    "television": between(19 * HOUR, 23 * HOUR, lambda t: 140.0 + 10.0 * math.sin(t / 90.0)),
    "heater": between(2 * HOUR, 6 * HOUR, lambda t: 1500.0),
    # 300 W held two hours, at night, then switched off in one step: no taper.
    "held_then_off": between(1 * HOUR, 3 * HOUR, lambda t: 300.0),
    "evening_tv_into_the_night": between(19 * HOUR, 23.5 * HOUR, lambda t: 140.0),
    # An evening under an inverter air conditioner: a cooker, then a water heater beside it.
    # Under the swings each one's floor arrives in parts; a first part is charger-sized.
    **{f"cooking_under_ac_{seed}": plus(
        between(17 * HOUR, 23 * HOUR, ac_inverter(800.0, 20 + seed)),
        between(19.8 * HOUR, 20.8 * HOUR, lambda t: 1100.0),
        between(20.2 * HOUR, 20.45 * HOUR, lambda t: 1500.0)) for seed in range(6)},
}


class Landing:
    """A landing's distribution box and the two households it feeds (all monitored), or a box
    alone. The box reads its households' loads a report late, the lighting and ``corridor``."""

    def __init__(self, name: str, households: list[Load], corridor: Load) -> None:
        self.households = [record(f"{name}-h{k}", "electrical", building=name, floor="5",
                                  room=f"50{k}", household=f"{name}-50{k}",
                                  position="household")
                           for k in range(1, len(households) + 1)]
        self.box = record(f"{name}-box", "electrical", building=name, floor="5",
                          room="F5-corridor", position="corridor")
        self.loads = [plus(household_base, load) for load in households]
        self.corridor = corridor

    def box_load(self, t: float) -> float:
        fed = sum(load(t - REPORT_S) for load in self.loads)
        return fed + stair_lighting(t) + self.corridor(t)


LANDINGS = {
    "charger_on_landing": Landing("L1", [between(21 * HOUR, 29 * HOUR, ac_inverter(1100.0, 5)),
                                         kettles_and_cooker], charger(21.5 * HOUR)),
    "household_charger_shows_on_landing": Landing(
        "L2", [charger(22.5 * HOUR, watts=200.0), between(22 * HOUR, 30 * HOUR, ac_cycling())],
        lambda t: 0.0),
    "busy_landing_no_charger": Landing(
        "L3", [plus(kettles_and_cooker, between(20 * HOUR, 30 * HOUR, ac_inverter(1200.0, 6))),
               plus(kettles_and_cooker, between(21 * HOUR, 28 * HOUR, ac_inverter(800.0, 7)))],
        lambda t: 0.0),
    # A box whose households have no monitors: it sees their loads as its own.
    "charger_on_unmonitored_landing": Landing("L4", [], plus(
        charger(23.5 * HOUR, watts=180.0), lambda t: 2 * household_base(t))),
}


@pytest.fixture(scope="module")
def alarms_by_device() -> dict[str, list[Alarm]]:
    """One engine for every case (each on its own circuits), reports every 30 s."""
    loads: dict[str, tuple[DeviceRecord, Load]] = {}
    for case, load in HOUSEHOLD_CASES.items():
        loads[case] = (record(case, "electrical", building=case, household=case,
                              position="household"), plus(household_base, load))
    for landing in LANDINGS.values():
        for device, house_load in zip(landing.households, landing.loads, strict=True):
            loads[device.device_id] = (device, house_load)
        loads[landing.box.device_id] = (landing.box, landing.box_load)
    engine = DetectionEngine(Registry(device for device, _ in loads.values()))
    rng = np.random.default_rng(11)
    messages = []
    for device, load in loads.values():
        phase = float(rng.uniform(0, REPORT_S))
        for t in np.arange(phase, SPAN_S, REPORT_S):
            watts = max(0.0, load(float(t)) + float(rng.normal(0, 3)))
            messages.append(telemetry(device, float(t) + LOCAL, {"power_w": watts}))
    messages.sort(key=lambda m: m.ts_ms)
    found: dict[str, list[Alarm]] = {device_id: [] for device_id in loads}
    for alarm in run_stream(engine, messages, 2000):
        if alarm.kind is AlarmKind.EBIKE_CHARGING:
            found[alarm.device_id].append(alarm)
    return found


def local_s(alarm: Alarm) -> float:
    return (alarm.ts_ms - T0) / 1000 - LOCAL


def test_a_charge_at_night_is_recognised_once_in_its_taper_and_clears(
        alarms_by_device: dict[str, list[Alarm]]) -> None:
    start = 22.5 * HOUR
    raised, cleared = alarms_by_device["charger_at_night"]
    assert (raised.state, cleared.state) == (AlarmState.RAISE, AlarmState.CLEAR)
    # After the constant-current stage (3.5 h), within the first half hour of the taper.
    assert start + 3.5 * HOUR < local_s(raised) <= start + 4.0 * HOUR
    assert local_s(cleared) <= start + 5.5 * HOUR
    evidence = raised.evidence
    assert 230 <= evidence["step_w"] <= 270
    assert evidence["taper_to_w"] <= (1 - evidence["taper_share"]) * evidence["step_w"]
    assert evidence["constant_current_ms"] >= 3 * 3600_000
    assert abs(evidence["window"]["start_ms"] - (T0 + (start + LOCAL) * 1000)) <= 15 * 60_000


HIDDEN_TAPER = ("the taper's small changes are lost in an air conditioner's swings (a known "
                "limit, docs/detection.md)")


HIDDEN_STEP = ("a charger plugged in under an inverter air conditioner's swings: its step is "
               "one of theirs (a known limit, docs/detection.md)")


@pytest.mark.parametrize("case", ["small_charger_by_day", "large_charger",
                                  pytest.param("charger_under_ac", marks=pytest.mark.xfail(
                                      reason=HIDDEN_STEP, strict=True)),
                                  pytest.param("taper_under_ac", marks=pytest.mark.xfail(
                                      reason=HIDDEN_TAPER, strict=True))])
def test_chargers_small_large_and_under_air_conditioning_raise_one_alarm(
        case: str, alarms_by_device: dict[str, list[Alarm]]) -> None:
    assert [a.state for a in alarms_by_device[case]] == [AlarmState.RAISE, AlarmState.CLEAR]


@pytest.mark.parametrize("case", ["ac_all_night", "inverter_ac_all_night", "small_inverter_ac",
                                  "kettles_and_cooker", "television", "heater", "held_then_off",
                                  "evening_tv_into_the_night",
                                  *(f"cooking_under_ac_{seed}" for seed in range(6))])
def test_appliances_are_not_chargers(case: str, alarms_by_device: dict[str, list[Alarm]]) -> None:
    assert alarms_by_device[case] == []


@pytest.mark.xfail(reason="a corridor load's taper, a median of buckets, glides in too few "
                   "moves (a known limit, docs/detection.md)", strict=True)
def test_a_charger_on_a_landing_is_one_alarm_on_the_box_among_busy_households(
        alarms_by_device: dict[str, list[Alarm]]) -> None:
    landing = LANDINGS["charger_on_landing"]
    raised, _ = alarms_by_device[landing.box.device_id]
    assert raised.state is AlarmState.RAISE
    assert raised.evidence["signal"] == "corridor_own_load"
    assert 21.5 * HOUR + 3.5 * HOUR < local_s(raised) <= 21.5 * HOUR + 4.5 * HOUR
    assert all(alarms_by_device[h.device_id] == [] for h in landing.households)


@pytest.mark.xfail(reason=HIDDEN_TAPER, strict=True)
def test_a_household_charger_is_one_alarm_on_the_household_not_again_on_its_landing(
        alarms_by_device: dict[str, list[Alarm]]) -> None:
    landing = LANDINGS["household_charger_shows_on_landing"]
    charging, neighbour = landing.households
    assert [a.state for a in alarms_by_device[charging.device_id]] == [AlarmState.RAISE,
                                                                       AlarmState.CLEAR]
    assert alarms_by_device[neighbour.device_id] == []
    assert alarms_by_device[landing.box.device_id] == []


def test_a_busy_landing_without_a_charger_raises_nothing(
        alarms_by_device: dict[str, list[Alarm]]) -> None:
    landing = LANDINGS["busy_landing_no_charger"]
    assert all(alarms_by_device[d.device_id] == [] for d in (*landing.households, landing.box))


def test_a_box_without_monitored_households_reads_its_own_power(
        alarms_by_device: dict[str, list[Alarm]]) -> None:
    box = LANDINGS["charger_on_unmonitored_landing"].box
    raised, _ = alarms_by_device[box.device_id]
    assert raised.evidence["signal"] == "power_w"
    assert 23.5 * HOUR + 3.5 * HOUR < local_s(raised) <= 23.5 * HOUR + 4.5 * HOUR


@pytest.mark.parametrize("second_step_after_min", [2.0, 12.0])
def test_a_step_followed_by_a_larger_load_is_followed_on_its_own(
        second_step_after_min: float) -> None:
    """A 150 W step, then 1,000 W more, two or twelve minutes later: two loads, each its own
    step; the 150 W one is still followed (a charger with a cooker beside it) and nothing is
    raised."""
    from gongzhi.gateway.detection.ebike import EbikeChargingDetector
    from gongzhi.gateway.detection.ebike_signature import CC

    device = record("h1", "electrical", household="h1", position="household")
    engine = DetectionEngine(Registry([device]))
    rng = np.random.default_rng(5)
    start = 3 * HOUR

    def load(t: float) -> float:
        return (200.0 + 150.0 * (t >= start)
                + 1000.0 * (t >= start + second_step_after_min * MINUTE))
    messages = [telemetry(device, t, {"power_w": load(t) + float(rng.normal(0, 2))})
                for t in np.arange(0.0, start + 40 * MINUTE, REPORT_S)]
    assert run_stream(engine, messages) == []
    [detector] = [r for r in engine._groups[device.type].rules
                  if isinstance(r, EbikeChargingDetector)]
    followed = detector.phase[0] == CC
    assert followed.any()
    assert detector.step[0][followed].min() == pytest.approx(150.0, abs=15.0)


def fridge(t: float) -> float:
    """A fridge's compressor, 27 min on in 70: its first minute's report holds the start's
    surge (96 W), then it settles in small changes to about 65 W and slowly falls; it switches
    off in one step of its running draw (about 57 W), not of the step it came with."""
    x = t % (70 * MINUTE)
    if x >= 27 * MINUTE:
        return 0.0
    if x < MINUTE:
        return 96.0
    return 65.0 + 15.0 * math.exp(-(x - MINUTE) / (4 * MINUTE)) - 0.3 * x / MINUTE


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fridge_that_settled_is_not_followed_after_it_switched_off(seed: int) -> None:
    """Its switch-off does not match the level its candidate took in (the settling came in
    small changes), but takes the circuit back to where it was before its step: the candidate
    ends, at every cycle, and no later cycle's settling glides it."""
    from gongzhi.gateway.detection.ebike import EbikeChargingDetector
    from gongzhi.gateway.detection.ebike_signature import IDLE

    device = record("h1", "electrical", household="h1", position="household")
    engine = DetectionEngine(Registry([device]))
    [detector] = [r for r in engine._groups[device.type].rules
                  if isinstance(r, EbikeChargingDetector)]
    rng = np.random.default_rng(seed)
    followed_while_off = []
    for t in np.arange(0.0, 12 * HOUR, MINUTE):
        message = telemetry(device, t, {"power_w": 160.0 + fridge(t) + float(rng.normal(0, 1))})
        assert run_stream(engine, [message]) == []
        if t % (70 * MINUTE) >= 30 * MINUTE:  # off, its switch-off step complete
            followed_while_off.append(bool((detector.phase[0] != IDLE).any()))
    assert len(followed_while_off) > 300 and not any(followed_while_off)


@pytest.mark.parametrize(("off_w", "followed"), [(1200.0, False), (1000.0, True)])
def test_a_step_heading_a_larger_one_ends_with_the_whole(off_w: float, followed: bool) -> None:
    """200 W, then 1,000 W more a report later: one step, whose first edge is followed (a
    charger plugged in just before a microwave). The whole switched off after three minutes
    was one appliance (the microwave's first minute); the larger part alone leaves the first."""
    from gongzhi.gateway.detection.ebike import EbikeChargingDetector
    from gongzhi.gateway.detection.ebike_signature import CC

    device = record("h1", "electrical", household="h1", position="household")
    engine = DetectionEngine(Registry([device]))
    rng = np.random.default_rng(3)
    start = 3 * HOUR

    def load(t: float) -> float:
        on = 200.0 * (t >= start) + 1000.0 * (start + MINUTE <= t < start + 4 * MINUTE)
        # 150 W until an hour before (its quiet floor), then 500 W more: room for the first.
        base = 150.0 if t < start - HOUR else 650.0
        return base + on - (off_w - 1000.0) * (t >= start + 4 * MINUTE)
    messages = [telemetry(device, t, {"power_w": load(t) + float(rng.normal(0, 2))})
                for t in np.arange(0.0, start + 10 * MINUTE, MINUTE)]
    assert run_stream(engine, messages) == []
    [detector] = [r for r in engine._groups[device.type].rules
                  if isinstance(r, EbikeChargingDetector)]
    assert bool((detector.phase[0] == CC).any()) is followed


@pytest.mark.parametrize("lamp_w", [170.0, 0.0])
def test_a_load_of_the_taper_s_size_switching_off_does_not_end_it(lamp_w: float) -> None:
    """A 200 W charger's taper (from 40 min, 200 W to nothing over an hour); a lamp of the
    taper's size switched on 5 min into it and off 7 min later: the step down matches the
    charger's level then, but the circuit still draws it. The charge is raised in its taper,
    lamp or not, as the charger's (the lamp's candidate glides with the taper: it is not the
    one raised)."""
    device = record("h1", "electrical", household="h1", position="household")
    engine = DetectionEngine(Registry([device]))
    rng = np.random.default_rng(4)
    start, taper = 3 * HOUR, 3 * HOUR + 40 * MINUTE

    def load(t: float) -> float:
        charging = 200.0 * (t >= start) * float(np.clip(1 - (t - taper) / HOUR, 0.0, 1.0))
        lamp = lamp_w * (taper + 5 * MINUTE <= t < taper + 12 * MINUTE)
        return 150.0 + charging + lamp
    messages = [telemetry(device, t, {"power_w": load(t) + float(rng.normal(0, 1))})
                for t in np.arange(0.0, taper + 2 * HOUR, MINUTE)]
    raised = [a for a in run_stream(engine, messages)
              if a.kind is AlarmKind.EBIKE_CHARGING and a.state is AlarmState.RAISE]
    assert len(raised) == 1
    assert taper + 12 * MINUTE < (raised[0].ts_ms - T0) / 1000 < taper + HOUR
    assert raised[0].evidence["window"]["start_ms"] == pytest.approx(T0 + start * 1000,
                                                                     abs=2 * MINUTE * 1000)
    assert raised[0].evidence["step_w"] == pytest.approx(200.0, abs=20.0)


@pytest.mark.parametrize(("lamp_w", "raised"), [(0.0, True), (60.0, False)])
def test_a_landing_whose_own_load_switches_raises_nothing(lamp_w: float, raised: bool) -> None:
    """A landing's own load (its box minus its monitored households) with a 250 W load held two
    hours that then falls away smoothly over an hour and a half: a charger's signature, raised
    on a quiet landing. With a 60 W load switched on twice for 20 min beside it while it holds,
    the landing's own load carries another load's switching (a flat whose meter does not
    report, a meter's gap): its median's moves are not a charger's, and nothing is raised."""
    households = [record(f"h{k}", "electrical", building="b", floor="5", room=f"50{k}",
                         household=f"b-50{k}", position="household") for k in (1, 2)]
    box = record("box", "electrical", building="b", floor="5", room="F5-corridor",
                 position="corridor")
    engine = DetectionEngine(Registry([*households, box]))
    rng = np.random.default_rng(6)
    start = 8 * HOUR

    def own(t: float) -> float:
        x = t - start
        load = 0.0 if x < 0 else 250.0 if x < 2 * HOUR else 250.0 * max(
            0.0, 1 - (x - 2 * HOUR) / (1.5 * HOUR))
        lamp = any(on * MINUTE <= x < (on + 20) * MINUTE for on in (10, 60))
        return 45.0 + load + lamp_w * lamp
    messages = []
    for t in np.arange(0.0, start + 5 * HOUR, REPORT_S):
        home = [household_base(float(t)) + float(rng.normal(0, 2)) for _ in households]
        messages += [telemetry(h, float(t), {"power_w": w}) for h, w in zip(households, home,
                                                                               strict=True)]
        messages.append(telemetry(box, float(t), {"power_w": sum(home) + own(float(t))
                                                  + float(rng.normal(0, 2))}))
    alarms = [a for a in run_stream(engine, messages, 2000)
              if a.kind is AlarmKind.EBIKE_CHARGING and a.device_id == "box"]
    assert bool(alarms) is raised


def test_a_load_s_settling_after_its_step_is_not_the_older_candidates() -> None:
    """A 150 W load held, then a fridge's start (120 W, settling to 65 W over minutes), reports
    every 10 s: from the fridge's candidate's start to 3 min after its first edge, the
    fridge's falls are its own: the 150 W candidate's level stays."""
    from gongzhi.gateway.detection.ebike import EbikeChargingDetector
    from gongzhi.gateway.detection.ebike_signature import IDLE
    from gongzhi.gateway.detection.edges import TOTAL

    device = record("h1", "electrical", household="h1", position="household")
    engine = DetectionEngine(Registry([device]))
    [detector] = [r for r in engine._groups[device.type].rules
                  if isinstance(r, EbikeChargingDetector)]
    rng = np.random.default_rng(8)
    first, second = HOUR, 1.5 * HOUR

    def load(t: float) -> float:
        x = t - second
        settling = 0.0 if x < 0 else 120.0 if x < 10 else 65.0 + 55.0 * math.exp(-x / 90.0)
        return 200.0 + 150.0 * (t >= first) + settling

    def older_level() -> float:
        slot = int(np.flatnonzero((detector.phase[0] != IDLE)
                                  & (detector.on_ms[0] == T0 + int(first * 1000)))[0])
        total = detector.edges.sums[0, TOTAL]
        return float(detector.step[0, slot] + total - detector.base[0, slot])
    levels: dict[float, float] = {}
    for t in np.arange(0.0, second + 175.0, 10.0):
        watts = load(float(t)) + float(rng.normal(0, 0.3))
        message = telemetry(device, float(t), {"power_w": watts})
        assert run_stream(engine, [message]) == []
        if t in (second + 100.0, second + 170.0):
            assert ((detector.phase[0] != IDLE).sum()) == 2  # both followed
            levels[t] = older_level()
    assert levels[second + 170.0] == pytest.approx(levels[second + 100.0], abs=2.0)
