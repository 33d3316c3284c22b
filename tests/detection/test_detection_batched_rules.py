"""Rules that take a batch's rounds in one call (``rules.row_wise``: the e-bike rule without a
landing, the threshold rules no other rule reads): the same alarms, evidence included, and the
same state as one message at a time."""

from __future__ import annotations

from typing import Any

import pytest
from test_detection_reload import fleet, fleet_messages, snapshot

from gongzhi.core.alarms import Alarm
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.detection.ebike import EbikeChargingDetector
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
    # Without a landing the e-bike rule takes the batch at once; the thresholds on voltage
    # stay round by round (the flatline rule reads their state), the others do not.
    assert (EbikeChargingDetector in taken) is not landing
    assert ThresholdDetector in taken
    assert {r.rule.metric for _, r in group._batched if isinstance(r, ThresholdDetector)} \
        == {t.rule.metric for t in group.rules if isinstance(t, ThresholdDetector)} - {
            "voltage_v", "cable_temp_c"}
    rounds = round_by_round(DetectionEngine(Registry(devices)))
    at_once, by_round = [], []
    for start in range(0, len(messages), 5000):
        at_once += batched.process(messages[start:start + 5000])
        by_round += rounds.process(messages[start:start + 5000])
    kinds = {a.kind.value for a in at_once}
    assert {"ebike_charging", "electrical_leakage", "voltage_abnormal"} <= kinds
    assert list(map(line, at_once)) == list(map(line, by_round))  # in the same order
    assert snapshot(batched) == snapshot(rounds)
    if not landing:  # (a landing's corridor load is formed from the households' of a round)
        one_by_one = [a for m in messages for a in single.process([m])]
        assert sorted(map(line, at_once)) == sorted(map(line, one_by_one))
        assert snapshot(batched) == snapshot(single)
