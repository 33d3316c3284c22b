"""Rules that take a batch's rounds in one call (``rules.row_wise``: the e-bike rule without a
landing, the threshold, rate, sensor-fault, learned-baseline, cable-model and leak rules): the
same alarms, evidence included, and the same state as one message at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from detection_support import record, telemetry
from test_detection_reload import fleet, fleet_messages, snapshot

from gongzhi.core.alarms import Alarm
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.detection.baseline import BaselineDetector
from gongzhi.gateway.detection.drift import RiserDriftDetector
from gongzhi.gateway.detection.ebike import EbikeChargingDetector
from gongzhi.gateway.detection.faults import FlatlineDetector, PlausibleRangeDetector
from gongzhi.gateway.detection.leak import FlowDetector, VolumeDetector
from gongzhi.gateway.detection.multivariate import ThermalResidualDetector
from gongzhi.gateway.detection.rates import RateDetector
from gongzhi.gateway.detection.rules import reads
from gongzhi.gateway.detection.thresholds import ThresholdDetector


def round_by_round(engine: DetectionEngine) -> DetectionEngine:
    """``engine`` with every rule taken round by round, as before rules took batches."""
    for group in engine._groups.values():
        group._batched = []
        group._needs = [(i, rule, [group._position[m] for m in reads(rule)])
                        for i, rule in enumerate(group.rules)]
    return engine


def line(alarm: Alarm) -> tuple[Any, ...]:
    return (alarm.ts_ms, alarm.alarm_id, alarm.state.value, alarm.kind.value, alarm.device_id,
            repr(alarm.evidence))


@pytest.mark.parametrize("landing", [True, False])
def test_a_batch_of_many_rounds_gives_one_message_at_a_time_s_alarms_and_state(
        landing: bool) -> None:
    # (The fleet's electrical devices: a riser's drift rule reads its peers' reports of a
    # round, so its batches are its own question.)
    devices = [d for d in fleet() if d.type is DeviceType.ELECTRICAL
               and (landing or d.device_id != "box5")]
    ids = {d.device_id for d in devices}
    messages = [m for m in fleet_messages() if m.device_id in ids]
    batched, single = DetectionEngine(Registry(devices)), DetectionEngine(Registry(devices))
    group = batched._groups[DeviceType.ELECTRICAL]
    taken = {type(rule) for _, rule in group._batched}
    # The e-bike rule takes the batch at once, with a landing round by round inside it, and
    # every threshold, sensor-fault and cable model rule does.
    assert EbikeChargingDetector in taken
    assert {ThresholdDetector, FlatlineDetector, PlausibleRangeDetector,
            ThermalResidualDetector} <= taken
    assert sum(isinstance(r, ThresholdDetector) for _, r in group._batched) \
        == sum(isinstance(r, ThresholdDetector) for r in group.rules)
    rounds = round_by_round(DetectionEngine(Registry(devices)))
    at_once, by_round = [], []
    for start in range(0, len(messages), 5000):
        at_once += batched.process(messages[start:start + 5000])
        by_round += rounds.process(messages[start:start + 5000])
    kinds = {a.kind.value for a in at_once}
    assert {"ebike_charging", "electrical_leakage", "voltage_abnormal"} <= kinds
    assert any(a.evidence["rule"] == "multivariate" for a in at_once)  # h2's loose terminal
    assert list(map(line, at_once)) == list(map(line, by_round))  # in the same order
    assert snapshot(batched) == snapshot(rounds)
    if not landing:  # (a landing's corridor load is formed from the households' of a round)
        one_by_one = [a for m in messages for a in single.process([m])]
        assert sorted(map(line, at_once)) == sorted(map(line, one_by_one))
        assert snapshot(batched) == snapshot(single)


MIN = 60.0


def three_ways(devices: list[DeviceRecord], messages: list[Any],
               one_at_a_time: bool = True) -> list[Alarm]:
    """``messages`` in batches of 5,000, round by round in the same batches, and one at a
    time: the same alarm lines (the first two in the same order) and the same state each way;
    the batches' alarms. (``one_at_a_time`` False: not the third, for rules that read a
    round's reports together.)"""
    batched, single = DetectionEngine(Registry(devices)), DetectionEngine(Registry(devices))
    rounds = round_by_round(DetectionEngine(Registry(devices)))
    at_once, by_round = [], []
    for start in range(0, len(messages), 5000):
        at_once += batched.process(messages[start:start + 5000])
        by_round += rounds.process(messages[start:start + 5000])
    assert list(map(line, at_once)) == list(map(line, by_round))
    assert snapshot(batched) == snapshot(rounds)
    if one_at_a_time:
        one_by_one = [a for m in messages for a in single.process([m])]
        assert sorted(map(line, at_once)) == sorted(map(line, one_by_one))
        assert snapshot(batched) == snapshot(single)
    return at_once


def batched_rules(devices: list[DeviceRecord], device_type: DeviceType) -> set[type]:
    """The kinds of rule that take a batch at once for ``device_type``'s devices."""
    group = DetectionEngine(Registry(devices))._groups[device_type]
    return {type(rule) for _, rule in group._batched}


def episodes(alarms: list[Alarm]) -> list[tuple[str, str, str]]:
    """Each alarm's device, rule and state, sorted."""
    return sorted((a.device_id, a.evidence["rule"], a.state.value) for a in alarms)


def voltage_faults() -> tuple[list[DeviceRecord], list[Any]]:
    """Six monitors once a minute for 2.5 days (each at its own second), voltage about 228 V,
    and from day 1.5: v0's reading stuck for 3 h; v1's noise gone for 2 h; v2 at 180 V, held
    still, for 3 h (under-voltage: the still reading is explained, not a sensor fault); v3 at
    0 V for 10 min; v4 at 320 V for 5 min; v5's voltage in every third message only, and its
    cable temperature stuck for 2 h."""
    rng = np.random.default_rng(11)
    devices = [record(f"v{k}", "electrical", room=f"30{k}") for k in range(6)]
    fault = 1.5 * 86_400
    messages = []
    for k, device in enumerate(devices):
        stuck = None
        for n, t in enumerate(np.arange(k * 7.0, 2.5 * 86_400, MIN)):
            volts, cable = 228.0 + float(rng.normal(0, 1)), 30.0 + float(rng.normal(0, 0.3))
            since = t - fault
            if k == 0 and 0 <= since < 3 * 3600:
                stuck = volts if stuck is None else stuck
                volts = stuck
            elif k == 1 and 0 <= since < 2 * 3600:
                volts = 228.0 + float(rng.normal(0, 0.002))
            elif k == 2 and 0 <= since < 3 * 3600:
                volts = 180.0
            elif k == 3 and 0 <= since < 10 * MIN:
                volts = 0.0
            elif k == 4 and 0 <= since < 5 * MIN:
                volts = 320.0
            values = {"power_w": 300.0 + float(rng.normal(0, 5)), "voltage_v": volts,
                      "cable_temp_c": 30.0 if k == 5 and 0 <= since < 2 * 3600 else cable}
            if k == 5 and n % 3:
                del values["voltage_v"]
            messages.append(telemetry(device, float(t), values))
    messages.sort(key=lambda m: m.ts_ms)
    return devices, messages


def test_the_sensor_fault_rules_take_a_batch_as_one_message_at_a_time() -> None:
    at_once = three_ways(*voltage_faults())
    faults = [a for a in at_once if a.kind.value == "sensor_fault"]
    assert sorted((a.device_id, a.evidence["metric"], a.evidence["fault"]) for a in faults
                  if a.state.value == "raise") == [
        ("v0", "voltage_v", "stuck"), ("v1", "voltage_v", "noise_gone"),
        ("v3", "voltage_v", "out_of_range"), ("v4", "voltage_v", "out_of_range"),
        ("v5", "cable_temp_c", "stuck")]
    # Each CLEAR names the fault its RAISE named (the reading moves again when it clears).
    assert sorted((a.device_id, a.evidence["metric"], a.evidence["fault"]) for a in faults
                  if a.state.value == "clear") == [
        ("v0", "voltage_v", "stuck"), ("v1", "voltage_v", "noise_gone"),
        ("v3", "voltage_v", "out_of_range"), ("v4", "voltage_v", "out_of_range"),
        ("v5", "cable_temp_c", "stuck")]
    # v2's still reading is explained by its under-voltage alarm: no sensor fault.
    assert {(a.device_id, a.state.value) for a in at_once
            if a.kind.value == "voltage_abnormal"} >= {("v2", "raise"), ("v2", "clear")}


def test_a_rule_read_by_another_must_take_the_rows_first() -> None:
    devices, messages = voltage_faults()
    engine = DetectionEngine(Registry(devices))
    group = engine._groups[DeviceType.ELECTRICAL]
    group._batched = [(i, r) for i, r in group._batched if not isinstance(r, ThresholdDetector)]
    with pytest.raises(RuntimeError, match="has not taken these rows"):
        engine.process(messages[:100])


def pressure_faults() -> tuple[list[DeviceRecord], list[Any]]:
    """Four riser gauges with no riser set (read alone), once a minute (each at its own second)
    for 3.5 days over the daily demand curve: from day 2.5, p0's pressure declines by 0.12 MPa
    over 4 h and comes back (the learned baseline's alarm, and its learning resumed); p1 falls
    0.1 MPa at once for 20 min (a burst, held long enough for the baseline's alarm too); p2
    and p3 stay as they are."""
    rng = np.random.default_rng(12)
    devices = [record(f"p{k}", "water_pressure", room=f"30{k}") for k in range(4)]
    fault = 2.5 * 86_400
    messages = []
    for k, device in enumerate(devices):
        for t in np.arange(k * 11.0, 3.5 * 86_400, MIN):
            hour = (t / 3600) % 24
            value = 0.32 - 0.06 * np.exp(-((hour - 7.5) ** 2) / 2) + float(rng.normal(0, 0.003))
            since = t - fault
            if k == 0 and 0 <= since < 4 * 3600:
                value -= 0.12 * since / (4 * 3600)
            elif k == 1 and 0 <= since < 20 * MIN:
                value -= 0.1
            messages.append(telemetry(device, float(t), {"pressure_mpa": round(value, 4)}))
    messages.sort(key=lambda m: m.ts_ms)
    return devices, messages


def test_the_learned_baseline_and_the_rate_rule_take_a_batch_as_one_message_at_a_time() -> None:
    devices, messages = pressure_faults()
    assert {BaselineDetector, RateDetector} <= batched_rules(devices, DeviceType.WATER_PRESSURE)
    assert episodes(three_ways(devices, messages)) == [
        ("p0", "baseline", "clear"), ("p0", "baseline", "raise"),
        ("p1", "baseline", "clear"), ("p1", "baseline", "raise"),  # held past 10 min
        ("p1", "rate", "clear"), ("p1", "rate", "raise")]


def meter_leaks() -> tuple[list[DeviceRecord], list[Any]]:
    """Four water meters every 15 min (each at its own second) for 3 days, a household's
    use in the mornings and evenings: from day 1.5 m0's cistern runs 2 L a report for 5 h;
    m1 passes 0.2 m³ a report for 2 h (a burst: a day's volume); m2 is replaced (its reading
    starts again from 0.5 m³) in the middle of a use; m3 only uses."""
    rng = np.random.default_rng(13)
    devices = [record(f"m{k}", "water_meter", room=f"30{k}") for k in range(4)]
    fault = 1.5 * 86_400
    messages = []
    for k, device in enumerate(devices):
        reading = 120.0 + 10 * k
        for t in np.arange(k * 13.0, 3 * 86_400, 15 * MIN):
            hour, since = (t / 3600) % 24, t - fault
            reading += 0.02 * rng.random() if hour in (7.0, 7.25, 19.0, 19.5) else 0.0
            if k == 0 and 0 <= since < 5 * 3600:
                reading += 0.002
            elif k == 1 and 0 <= since < 2 * 3600:
                reading += 0.2
            elif k == 2 and since == 0:
                reading = 0.5
            messages.append(telemetry(device, float(t), {"water_m3": round(reading, 3)}))
    messages.sort(key=lambda m: m.ts_ms)
    return devices, messages


def test_the_leak_rules_take_a_batch_as_one_message_at_a_time() -> None:
    devices, messages = meter_leaks()
    assert {FlowDetector, VolumeDetector} <= batched_rules(devices, DeviceType.WATER_METER)
    assert episodes(three_ways(devices, messages)) == [
        ("m0", "continuous_flow", "clear"), ("m0", "continuous_flow", "raise"),
        ("m1", "daily_volume", "clear"), ("m1", "daily_volume", "raise")]  # a day later


def test_a_riser_s_drift_rule_runs_only_where_gauges_are_on_a_riser() -> None:
    alone = [record(f"p{k}", "water_pressure") for k in range(3)]
    on_riser = [record(f"p{k}", "water_pressure", riser="R1") for k in range(3)]
    for devices, runs in ((alone, False), (on_riser, True)):
        group = DetectionEngine(Registry(devices))._groups[DeviceType.WATER_PRESSURE]
        assert any(isinstance(rule, RiserDriftDetector) for rule in group.rules)  # (a reload)
        assert any(isinstance(rule, RiserDriftDetector) for _, rule in group._batched) is runs
        assert not any(isinstance(rule, RiserDriftDetector) for _, rule, _ in group._needs)


def smoke_on_floors() -> tuple[list[DeviceRecord], list[Any]]:
    """Two floors, every 10 s (each detector at its own second) for 6 hours. Floor 3: two
    households' detectors and the landing's; floor 4: one household's two detectors. At 1 h,
    household H1's kitchen smoke for 2 min (one detector: a smoke alarm, no fire); at 2 h a fire
    in H1 whose smoke reaches the landing 90 s later (two detectors); at 3 h H2's and H1's
    cooking at once (two kitchens, no fire); at 4 h on floor 4 smoke with a 15 °C rise on one
    detector (smoke and heat)."""
    rng = np.random.default_rng(14)
    devices = [record("a1", "smoke", floor="3", household="H1"),
               record("a2", "smoke", floor="3", household="H2"),
               record("aL", "smoke", floor="3", position="landing"),
               record("b1", "smoke", floor="4", household="H4"),
               record("b2", "smoke", floor="4", household="H4")]
    smoke = {"a1": [(3600, 120), (7200, 900), (10_800, 180)], "a2": [(10_800, 180)],
             "aL": [(7290, 600)], "b1": [(14_400, 600)]}
    messages = []
    for k, device in enumerate(devices):
        name = device.device_id
        for t in np.arange(k * 2.0, 6 * 3600, 10.0):
            indicated = any(0 <= t - start < length for start, length in smoke.get(name, []))
            heat = 15.0 * min(1.0, (t - 14_400) / 180) if name == "b1" and indicated else 0.0
            values = {"smoke_db_m": round((0.6 if indicated else 0.0) + abs(rng.normal(0, 0.004)),
                                          3),
                      "temp_c": round(21.0 + heat + float(rng.normal(0, 0.1)), 1)}
            messages.append(telemetry(device, float(t), values))
    messages.sort(key=lambda m: m.ts_ms)
    return devices, messages


def test_fire_fusion_takes_a_batch_between_its_smoke_alarms_as_round_by_round() -> None:
    devices, messages = smoke_on_floors()
    at_once = three_ways(devices, messages, one_at_a_time=False)
    fires = [(a.device_id, a.evidence["cause"]) for a in at_once if a.kind.value == "fire"]
    assert fires == [("a1", "two_detectors"), ("b1", "smoke_and_heat")]
    smoke_alarms = [a.device_id for a in at_once
                    if a.kind.value == "smoke_alarm" and a.state.value == "raise"]
    assert sorted(smoke_alarms) == ["a1", "a1", "a1", "a2", "aL", "b1"]


def test_a_riser_s_drift_rule_takes_a_batch_s_rounds_as_round_by_round() -> None:
    # (The reload tests' riser: its gauges report every 2 min, each at its own second; one
    # drifts, one sticks, a burst moves them all.)
    devices = [d for d in fleet() if d.type is DeviceType.WATER_PRESSURE]
    ids = {d.device_id for d in devices}
    messages = [m for m in fleet_messages() if m.device_id in ids]
    assert RiserDriftDetector in batched_rules(devices, DeviceType.WATER_PRESSURE)
    at_once = three_ways(devices, messages, one_at_a_time=False)
    drifts = {a.state.value for a in at_once if a.evidence.get("fault") == "drift"}
    assert drifts == {"raise", "clear"}
