"""Device online state and latest values, and their reports to a real HTTP peer."""

from __future__ import annotations

from pathlib import Path

from gateway_support import T0, AlarmPeer

from gongzhi.core.clock import ManualClock
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.gateway.device_states import DeviceStateReporter, DeviceStateTracker
from gongzhi.gateway.messages import Presence, StatusChange, Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.platform_client import PlatformClient, TokenSource

WATER = DeviceType.WATER_PRESSURE


def reading(device: str, ts: int, value: float, received: int | None = None) -> Telemetry:
    return Telemetry(device, "e1", WATER, ts, {"pressure_mpa": value},
                     ts if received is None else received)


def test_latest_values_ignore_late_messages_and_status_sets_presence() -> None:
    tracker = DeviceStateTracker()
    tracker.observe([reading("w1", T0 + 10, 0.30), reading("w1", T0 + 5, 0.10, T0 + 20)])
    [state] = tracker.take_changed()
    assert state == {"device_id": "w1", "online": True, "last_seen_ms": T0 + 20,
                     "values": {"pressure_mpa": 0.30}, "values_ts_ms": T0 + 10}
    assert tracker.take_changed() == []  # nothing changed since
    tracker.observe([StatusChange("w1", "e1", WATER, Presence.OFFLINE, T0 + 30)])
    [state] = tracker.take_changed()
    assert state["online"] is False and state["last_seen_ms"] == T0 + 30


def test_silence_past_the_type_limit_means_offline() -> None:
    tracker = DeviceStateTracker()
    tracker.observe([reading("w1", T0, 0.3)])
    tracker.take_changed()
    limit = spec_for(WATER).offline_after_ms
    assert tracker.mark_silent(T0 + limit) == 0
    assert tracker.mark_silent(T0 + limit + 1) == 1
    [state] = tracker.take_changed()
    assert state["online"] is False


def test_reporter_retries_after_a_failure(peer: AlarmPeer, tmp_path: Path) -> None:
    tracker = DeviceStateTracker()
    client = PlatformClient(peer.url, TokenSource("tok", tmp_path / "none.json"))
    metrics = GatewayMetrics()
    reporter = DeviceStateReporter(tracker, client, metrics, ManualClock(T0))
    try:
        tracker.observe([reading("w1", T0, 0.3), reading("w2", T0, 0.4)])
        peer.status = 503
        assert reporter.report_once() == 0
        peer.status = None
        assert reporter.report_once() == 2
        assert sorted(s["device_id"] for s in peer.device_states) == ["w1", "w2"]
        assert peer.auth[-1] == "Bearer tok"
        assert metrics.total("device_state_failures_total") == 1
        assert metrics.total("device_states_sent_total") == 2
    finally:
        client.close()
