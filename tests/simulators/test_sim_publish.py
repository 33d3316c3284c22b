"""The simulator through a real Mosquitto into a plain subscriber: every message arrives, and
the ground truth describes what actually went over the wire."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sim_helpers import Capture, by_topic

from gongzhi.core.errors import RejectedMessage
from gongzhi.core.settings import parse_mqtt_url
from gongzhi.devices.registry import load_registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.messages import RawMessage
from gongzhi.simulators.groundtruth import read_ground_truth
from gongzhi.simulators.outgoing import Message
from gongzhi.simulators.publisher import (
    MULTIPLEXED,
    DeviceEndpoint,
    MqttPublisher,
    PublisherConfig,
)
from gongzhi.simulators.runner import RunOptions, run_simulation

pytestmark = pytest.mark.integration
MINUTE = 60_000
# The reference scenario's faults, packed into nine simulated minutes.
COMPACT = """
name: compact
faults:
  - {at: 20s, kind: fire, duration: 3m, params: {mode: flaming}}
  - {at: 30s, kind: smoke_alarm}
  - {at: 40s, kind: cooking_smoke, params: {peak_db_m: 0.3, duration_s: 4}}
  - {at: 50s, kind: tamper}
  - {at: 1m, kind: low_battery, duration: 5m}
  - {at: 1m10s, kind: burst_pipe, duration: 3m}
  - {at: 1m20s, kind: over_pressure, duration: 3m}
  - {at: 1m30s, kind: leakage_rising}
  - {at: 1m40s, kind: overcurrent, params: {multiple: 1.3}}
  - {at: 1m50s, kind: voltage_sag}
  - {at: 2m, kind: arc_fault}
  - {at: 2m10s, kind: device_offline, duration: 2m}
  - {at: 2m20s, kind: device_offline_will, duration: 2m}
  - {at: 2m30s, kind: garbage, params: {variant: huge}}
  - {at: 2m40s, kind: garbage, params: {variant: not_json}}
  - {at: 2m50s, kind: garbage, params: {variant: unknown_device}}
  - {at: 3m, kind: duplicate}
  - {at: 3m10s, kind: replay, params: {delay_s: 60}}
  - {at: 3m20s, kind: out_of_order}
  - {at: 3m30s, kind: sensor_stuck, duration: 2m}
  - {at: 6m, kind: power_cut, duration: 1m}
"""


@pytest.fixture
def capture(broker: Any) -> Any:
    c = Capture("127.0.0.1", broker.port).start()
    try:
        yield c
    finally:
        c.stop()


def _values(received: dict[str, list[bytes]], device: str, metric: str) -> list[float]:
    out = []
    for payload in received.get(f"estate/small/{device}/telemetry", []):
        try:
            out.append(float(orjson.loads(payload)["values"][metric]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # garbage injected on the device's topic
    return out


def _seqs(received: dict[str, list[bytes]], device: str) -> list[int]:
    out = []
    for payload in received[f"estate/small/{device}/telemetry"]:
        try:
            out.append(int(orjson.loads(payload)["seq"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return out


def _events(received: dict[str, list[bytes]], device: str) -> list[str]:
    return [orjson.loads(p)["event"] for p in received.get(f"estate/small/{device}/event", [])]


def _check_evidence(line: dict[str, Any], received: dict[str, list[bytes]],
                    decoder: Decoder) -> None:
    """What the subscriber saw bears out the ground-truth line."""
    kind, device = line["fault"], line["device_id"]
    if kind == "fire":
        for d in line["devices"]:
            assert "smoke_alarm" in _events(received, d), d
            assert max(_values(received, d, "smoke_db_m")) >= 0.2
    elif kind in ("smoke_alarm", "tamper", "low_battery", "arc_fault"):
        assert kind in _events(received, device)
    elif kind == "cooking_smoke":
        assert "smoke_alarm" not in _events(received, device)
        assert max(_values(received, device, "smoke_db_m")) >= 0.1
    elif kind in ("device_offline", "device_offline_will"):
        assert b"offline" in received[f"estate/small/{device}/status"]
    elif kind == "leakage_rising":
        assert max(_values(received, device, "residual_ma")) >= 300
    elif kind == "power_cut":
        for d in line["devices"]:
            assert b"offline" in received[f"estate/small/{d}/status"]
    elif kind == "overcurrent":
        assert max(_values(received, device, "current_a")) >= 32
    elif kind == "voltage_sag":
        assert min(_values(received, device, "voltage_v")) < 187
    elif kind in ("burst_pipe", "pressure_low", "pump_failure"):
        assert min(_values(received, device, "pressure_mpa")) < 0.13
    elif kind == "over_pressure":
        assert max(_values(received, device, "pressure_mpa")) > 1.0
    elif kind == "garbage":
        reasons = []
        for topic, payloads in received.items():
            if device[:40] not in topic:
                continue
            for payload in payloads:
                try:
                    decoder.decode(RawMessage(topic, payload, line["start_ms"]))
                except RejectedMessage as exc:
                    reasons.append(exc.reason)
        assert line["reason"] in reasons
    elif kind in ("duplicate", "replay"):
        seqs = _seqs(received, device)
        assert len(seqs) > len(set(seqs))
    elif kind == "out_of_order":
        seqs = _seqs(received, device)
        assert seqs != sorted(seqs)
    else:  # signals that need a reference run to see (stuck, drift, charger, skew)
        assert received.get(f"estate/small/{device}/telemetry"), kind


@pytest.mark.parametrize("mode", ["per-device", "multiplexed"])
def test_scenario_through_mosquitto_arrives_whole_and_matches_its_ground_truth(
        broker: Any, capture: Capture, tmp_path: Path, mode: str) -> None:
    journal: list[Message] = []
    truth_path = tmp_path / "truth.jsonl"
    registry_path = tmp_path / "registry.csv"
    scenario = tmp_path / "compact.yaml"
    scenario.write_text(COMPACT)
    summary = run_simulation(
        RunOptions(estate="small", scenario=scenario, speed=math.inf,
                   duration_ms=9 * MINUTE, seed=3, ground_truth=truth_path,
                   registry_out=registry_path, mode=mode, connections=2, progress=False),
        parse_mqtt_url(broker.url), journal=journal)
    assert summary.flushed and summary.mode == mode
    assert summary.published == sum(summary.by_channel.values())
    expected = [(m.topic, m.payload) for m in journal]
    received = capture.wait_for(len(expected))
    assert len(received) == len(expected) > 2_000
    sent_topics, got_topics = by_topic(expected), by_topic(received)
    assert {t: Counter(p) for t, p in got_topics.items()} == \
        {t: Counter(p) for t, p in sent_topics.items()}
    if mode == "per-device":
        # The offline of every dropped connection came from the broker (the last will): one
        # device, then the building's 27 mains-powered ones.
        assert summary.wills == 1 + 27

    truth = read_ground_truth(truth_path)
    assert len({line["fault_id"] for line in truth}) == 21
    assert sum(summary.faults.values()) == len({line["fault_id"] for line in truth})
    decoder = Decoder(load_registry(registry_path))
    for line in truth:
        _check_evidence(line, got_topics, decoder)


def test_back_pressure_loses_nothing(broker: Any, capture: Capture) -> None:
    """A publish queue of 4: paho answers QUEUE_SIZE (not queued) over and over; every one of
    the messages still arrives, in order."""
    config = PublisherConfig(target=parse_mqtt_url(broker.url), mode=MULTIPLEXED,
                             connections=1, max_queued=4, max_inflight=4)
    publisher = MqttPublisher(config, [DeviceEndpoint("dev-1", "e1")])
    n = 3_000
    with publisher:
        publisher.send(Message(0, "estate/e1/dev-1/telemetry", b"%d" % i, 1) for i in range(n))
        assert publisher.flush(30)
    assert publisher.stats.waits > 0
    received = capture.wait_for(n)
    assert [p for _, p in received] == [b"%d" % i for i in range(n)]
