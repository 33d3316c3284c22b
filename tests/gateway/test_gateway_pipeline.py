"""The batch pipeline with real SQLite stores and a stand-in detector (detection has its own
tests): what reaches detection, storage and the dead letters, and how failures are contained."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from gateway_support import T0, make_records

from gongzhi.core.alarms import Alarm, AlarmKind, alarm_id_for
from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import DeviceEvent, DeviceMessage, RawMessage, Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.pipeline import IngestPipeline, StopRequested
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.telemetry.embedded import EmbeddedReader


class RecordingDetector:
    """Stand-in: an alarm per tamper event; raises on a device named in ``explode_on``."""

    def __init__(self) -> None:
        self.seen: list[DeviceMessage] = []
        self.explode_on: set[str] = set()

    def process(self, messages: Sequence[DeviceMessage]) -> list[Alarm]:
        if any(m.device_id in self.explode_on for m in messages):
            raise ValueError("detector bug")
        self.seen += messages
        return [Alarm(alarm_id_for(m.device_id, "tamper", m.ts_ms), AlarmKind.TAMPER,
                      m.device_id, m.estate_id, m.ts_ms)
                for m in messages if isinstance(m, DeviceEvent) and m.event == "tamper"]

    def tick(self, now_ms: int) -> list[Alarm]:
        return []


class FlakySink:
    def __init__(self, store: TelemetryStore, failures: int) -> None:
        self.store = store
        self.failures = failures

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.store.write(batch, now_ms)


def make_pipeline(parts: dict[str, Any], *, sink: Any = None, partition: str | None = None,
                  stopping: threading.Event | None = None) -> IngestPipeline:
    return IngestPipeline(
        decoder=Decoder(Registry(make_records())), detector=RecordingDetector(),
        sink=sink or parts["store"], outbox=parts["outbox"], dead_letters=parts["dead_letters"],
        states=DeviceStateTracker(), metrics=GatewayMetrics(), clock=ManualClock(T0),
        partition=Partition.parse(partition), stopping=stopping, retry_s=0.001)


def msg(topic: str, payload: Any) -> RawMessage:
    return RawMessage(topic, payload if isinstance(payload, bytes) else orjson.dumps(payload), T0)


def test_batch_is_stored_detected_and_counted(parts: dict[str, Any]) -> None:
    p = make_pipeline(parts)
    alarms = p.handle([
        msg("estate/e1/w1/telemetry", {"ts": T0 - 1000, "seq": 1, "pressure_mpa": 0.3}),
        msg("estate/e1/w1/telemetry", {"ts": T0 - 1000, "seq": 1, "pressure_mpa": 0.3}),
        msg("estate/e1/w1/telemetry", {"ts": T0 - 5000, "seq": 2, "pressure_mpa": 0.2}),
        msg("estate/e1/s1/event", {"ts": T0, "event": "tamper", "seq": 9}),
        msg("estate/e1/s1/telemetry", b"{bad"),
    ])
    assert [a.device_id for a in alarms] == ["s1"]
    assert [e.alarm_id for e in parts["outbox"].pending()] == [alarms[0].alarm_id]
    detector = p.detector
    assert isinstance(detector, RecordingDetector)
    # The late point (T0-5000 after T0-1000) is stored but not shown to detection.
    assert [(m.device_id, m.ts_ms) for m in detector.seen] == [("w1", T0 - 1000), ("s1", T0)]
    with EmbeddedReader(parts["store"].path) as reader:
        assert reader.series("w1", "pressure_mpa", T0 - 10_000, T0) == [
            (T0 - 5000, 0.2), (T0 - 1000, 0.3)]
    assert [d["reason"] for d in parts["dead_letters"].recent()] == ["not_json"]
    m = p._metrics
    assert (m.total("messages_received_total"), m.total("messages_processed_total"),
            m.total("duplicates_total"), m.total("out_of_order_total"),
            m.value("messages_rejected_total", reason="not_json"),
            m.total("telemetry_points_stored_total"), m.total("alarms_outboxed_total")) == (
        5, 3, 1, 1, 1, 2, 1)


def test_a_message_the_detector_fails_on_is_isolated(parts: dict[str, Any]) -> None:
    p = make_pipeline(parts)
    assert isinstance(p.detector, RecordingDetector)
    p.detector.explode_on.add("x1")
    alarms = p.handle([msg("estate/e1/s1/event", {"event": "tamper"}),
                       msg("estate/e1/x1/telemetry", {"current_a": 3}),
                       msg("estate/e1/s2/event", {"event": "tamper"})])
    assert sorted(a.device_id for a in alarms) == ["s1", "s2"]
    [dead] = parts["dead_letters"].recent()
    assert dead["reason"] == "internal_error" and "x1" in dead["topic"]
    assert p._metrics.total("detection_errors_total") == 1


def test_unexpected_decoder_error_becomes_internal_error(parts: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_pipeline(parts)
    real = p.decoder.decode

    def decode(raw: RawMessage) -> list[DeviceMessage]:
        if raw.topic.endswith("/s2/event"):
            raise KeyError("surprise")
        return real(raw)

    monkeypatch.setattr(p.decoder, "decode", decode)
    p.handle([msg("estate/e1/s2/event", {"event": "tamper"}),
              msg("estate/e1/s1/event", {"event": "tamper"})])
    assert [d["reason"] for d in parts["dead_letters"].recent()] == ["internal_error"]
    assert parts["outbox"].counts()["pending"] == 1


def test_partition_skips_other_estates(parts: dict[str, Any]) -> None:
    # CRC-32 puts e1 in share 1 of 2 and e4 in share 0.
    p = make_pipeline(parts, partition="1/2")
    p.handle([msg("estate/e1/w1/telemetry", {"pressure_mpa": 0.3}),
              msg("estate/e4/unknown/telemetry", {"pressure_mpa": 0.3})])
    assert p._metrics.total("messages_skipped_total") == 1
    assert p._metrics.total("messages_processed_total") == 1
    assert parts["dead_letters"].recent() == []  # the other replica records its own refusals


def test_store_errors_are_retried_until_they_pass(parts: dict[str, Any]) -> None:
    p = make_pipeline(parts, sink=FlakySink(parts["store"], failures=2))
    p.handle([msg("estate/e1/w1/telemetry", {"pressure_mpa": 0.3})])
    assert p._metrics.total("storage_retries_total") == 2
    assert p._metrics.total("telemetry_points_stored_total") == 1


def test_store_error_while_stopping_leaves_the_batch_unfinished(parts: dict[str, Any]) -> None:
    stopping = threading.Event()
    stopping.set()
    p = make_pipeline(parts, sink=FlakySink(parts["store"], failures=1), stopping=stopping)
    with pytest.raises(StopRequested):
        p.handle([msg("estate/e1/w1/telemetry", {"pressure_mpa": 0.3})])
