"""Heartbeats, last wills and offline clusters (received time, through tick and process)."""

from __future__ import annotations

from detection_support import T0, record, status, telemetry

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionConfig, DetectionEngine


def test_last_will_raises_device_offline_at_once_and_telemetry_clears_it() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    engine.process([telemetry(device, 0, {"pressure_mpa": 0.3})])
    (raised,) = engine.process([status(device, 5, online=False)])
    assert (raised.kind, raised.state, raised.ts_ms) == (
        AlarmKind.DEVICE_OFFLINE, AlarmState.RAISE, T0 + 5000)
    assert raised.evidence["rule"] == "last_will"
    assert engine.process([status(device, 6, online=False)]) == []  # already offline
    (cleared,) = engine.process([telemetry(device, 60, {"pressure_mpa": 0.3})])
    assert (cleared.state, cleared.alarm_id) == (AlarmState.CLEAR, raised.alarm_id)


def test_heartbeat_offline_after_the_catalogue_silence() -> None:
    pump = record("p1", "water_pressure")  # offline after 30 s
    smoke = record("s1", "smoke")  # NB-IoT: offline after 25 h
    slow = record("p2", "water_pressure", report_interval_s=60)  # 3 intervals: 180 s
    engine = DetectionEngine(Registry([pump, smoke, slow]))
    engine.process([telemetry(d, 0, {"pressure_mpa": 0.3} if d is not smoke else {
        "battery_pct": 90}) for d in (pump, smoke, slow)])
    assert engine.tick(T0 + 30_000) == []
    (alarm,) = engine.tick(T0 + 31_000)
    assert (alarm.device_id, alarm.kind) == ("p1", AlarmKind.DEVICE_OFFLINE)
    assert alarm.evidence["silent_ms"] == 31_000 and alarm.evidence["offline_after_ms"] == 30_000
    assert engine.tick(T0 + 60_000) == []  # no repeat
    assert [a.device_id for a in engine.tick(T0 + 181_000)] == ["p2"]
    assert [a.device_id for a in engine.tick(T0 + 25 * 3600_000 + 1)] == ["s1"]


def test_a_device_never_heard_of_counts_from_the_first_tick() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    assert engine.tick(T0) == []
    assert engine.tick(T0 + 30_000) == []
    assert [a.kind for a in engine.tick(T0 + 30_001)] == [AlarmKind.DEVICE_OFFLINE]


def building(n: int, name: str = "b7") -> list:
    return [record(f"{name}-{i}", "electrical", building=name) for i in range(n)]


def test_building_losing_many_devices_is_one_cluster_that_inhibits_device_alarms() -> None:
    devices = building(10) + building(10, "b8")
    engine = DetectionEngine(Registry(devices), DetectionConfig(cluster_min_devices=5))
    engine.process([telemetry(d, 0, {"voltage_v": 220}) for d in devices])
    alarms = []
    for i, device in enumerate(devices[:7]):
        alarms += engine.process([status(device, 10 + i, online=False)])
    kinds = [(a.kind, a.state) for a in alarms]
    # Four per-device alarms, then the fifth forms the cluster: one RAISE, four withdrawals.
    assert kinds[:4] == [(AlarmKind.DEVICE_OFFLINE, AlarmState.RAISE)] * 4
    assert kinds[4] == (AlarmKind.OFFLINE_CLUSTER, AlarmState.RAISE)
    assert kinds[5:] == [(AlarmKind.DEVICE_OFFLINE, AlarmState.CLEAR)] * 4
    cluster = alarms[4]
    assert (cluster.device_id, cluster.building, cluster.estate_id) == ("e1:b7", "b7", "e1")
    assert cluster.evidence["offline"] == 5 and cluster.evidence["needed"] == 5
    assert all(a.evidence["inhibited_by"] == cluster.alarm_id for a in alarms[5:])
    # Devices 6 and 7 joined silently; the other building is unaffected.
    assert len(alarms) == 9
    # Most come back: the cluster clears and the one still offline gets its own alarm.
    back = engine.process([telemetry(d, 100, {"voltage_v": 220}) for d in devices[:6]])
    assert [(a.kind, a.state, a.device_id) for a in back] == [
        (AlarmKind.OFFLINE_CLUSTER, AlarmState.CLEAR, "e1:b7"),
        (AlarmKind.DEVICE_OFFLINE, AlarmState.RAISE, "b7-6")]
    assert back[0].alarm_id == cluster.alarm_id


def test_heartbeat_silence_of_a_building_forms_the_cluster_in_one_tick() -> None:
    devices = building(10)
    engine = DetectionEngine(Registry(devices))
    engine.process([telemetry(d, 0, {"voltage_v": 220}) for d in devices[:3]])
    engine.process([telemetry(d, 5, {"voltage_v": 220}) for d in devices[3:]])
    alarms = engine.tick(T0 + 40_000)
    assert [(a.kind, a.state) for a in alarms] == [(AlarmKind.OFFLINE_CLUSTER, AlarmState.RAISE)]
    assert alarms[0].evidence["offline"] == 10
    assert alarms[0].evidence["window"]["start_ms"] == T0


def test_scattered_offline_devices_do_not_make_a_cluster() -> None:
    devices = building(10)
    engine = DetectionEngine(Registry(devices), DetectionConfig(cluster_window_ms=60_000))
    engine.process([telemetry(d, 0, {"voltage_v": 220}) for d in devices])
    alarms = []
    for i, device in enumerate(devices[:6]):  # one every two minutes
        alarms += engine.process([status(device, 120 * (i + 1), online=False)])
    assert [a.kind for a in alarms] == [AlarmKind.DEVICE_OFFLINE] * 6


def test_a_batch_of_last_wills_forms_the_cluster_without_per_device_churn() -> None:
    devices = building(10)
    engine = DetectionEngine(Registry(devices), DetectionConfig(cluster_min_devices=5))
    engine.process([telemetry(d, 0, {"voltage_v": 220}) for d in devices])
    alarms = engine.process([status(d, 30, online=False) for d in devices[:8]])
    assert [(a.kind, a.state) for a in alarms] == [(AlarmKind.OFFLINE_CLUSTER, AlarmState.RAISE)]
    assert alarms[0].evidence["offline"] == 8


def test_a_stale_last_will_after_newer_data_is_ignored() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    engine.process([telemetry(device, 0, {"pressure_mpa": 0.3}, received_s=50)])
    assert engine.process([status(device, 40, online=False)]) == []


def test_fast_reporting_battery_detector_gets_three_intervals_of_silence() -> None:
    smoke = record("s1", "smoke", report_interval_s=30)
    engine = DetectionEngine(Registry([smoke]))
    engine.process([telemetry(smoke, 0, {"battery_pct": 90})])
    assert engine.tick(T0 + 89_000) == []
    assert [a.evidence["offline_after_ms"] for a in engine.tick(T0 + 91_000)] == [90_000]
