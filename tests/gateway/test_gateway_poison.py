"""A failure after decoding costs only its own item: an alarm that cannot be serialised, a row a
store cannot bind; a store outage is retried and shows as a stalled worker. Real SQLite stores;
the stand-ins are a detector and sinks of one behaviour each."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from gateway_support import T0, make_records, wait_until

from gongzhi.core.alarms import Alarm, AlarmKind, alarm_id_for
from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.ingest_worker import IngestWorker
from gongzhi.gateway.messages import DeviceEvent, DeviceMessage, RawMessage, Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox, EncodedAlarm
from gongzhi.gateway.pipeline import IngestPipeline
from gongzhi.gateway.telemetry_store import TelemetryStore


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


class EvidenceDetector:
    """An alarm per tamper event, with the evidence ``evidence[device]`` (as a buggy or future
    rule might build it)."""

    def __init__(self, evidence: dict[str, dict[str, Any]]) -> None:
        self.evidence = evidence

    def process(self, messages: Sequence[DeviceMessage]) -> list[Alarm]:
        return [Alarm(alarm_id_for(m.device_id, "tamper", m.ts_ms), AlarmKind.TAMPER,
                      m.device_id, m.estate_id, m.ts_ms,
                      evidence=self.evidence.get(m.device_id, {"rule": "event"}))
                for m in messages if isinstance(m, DeviceEvent)]

    def tick(self, now_ms: int) -> list[Alarm]:
        return []


class UnbindableSink:
    """A store that cannot bind the rows of one device (a data error), whatever it is asked."""

    def __init__(self, store: TelemetryStore, device_id: str) -> None:
        self.store = store
        self.device_id = device_id

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        if any(m.device_id == self.device_id for m in batch):
            raise sqlite3.InterfaceError("Error binding parameter 2: type 'X' is not supported")
        return self.store.write(batch, now_ms)


class DownSink:
    """A store that is down (an outage) until ``up`` is set."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store
        self.up = threading.Event()

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        if not self.up.is_set():
            raise sqlite3.OperationalError("disk I/O error")
        return self.store.write(batch, now_ms)


def pipeline(parts: dict[str, Any], *, sink: Any = None, detector: Any = None,
             clock: ManualClock | None = None,
             stopping: threading.Event | None = None) -> IngestPipeline:
    return IngestPipeline(
        decoder=Decoder(Registry(make_records())), detector=detector or EvidenceDetector({}),
        sink=sink or parts["store"], outbox=parts["outbox"], dead_letters=parts["dead_letters"],
        states=DeviceStateTracker(), metrics=GatewayMetrics(), clock=clock or ManualClock(T0),
        stopping=stopping, retry_s=0.001)


def msg(topic: str, payload: Any) -> RawMessage:
    return RawMessage(topic, orjson.dumps(payload), T0)


@pytest.mark.parametrize("evidence", [{"note": "\ud800"}, deep(300), {"n": 2**70}, {1: "x"}])
def test_an_alarm_that_cannot_be_serialised_costs_only_itself(
        parts: dict[str, Any], evidence: dict[str, Any]) -> None:
    p = pipeline(parts, detector=EvidenceDetector({"s1": evidence}))
    alarms = p.handle([msg("estate/e1/s1/event", {"event": "tamper", "seq": 1}),
                       msg("estate/e1/s2/event", {"event": "tamper", "seq": 1})])
    assert [a.device_id for a in alarms] == ["s2"]
    assert [e.alarm_id for e in parts["outbox"].pending()] == [alarms[0].alarm_id]
    [dead] = parts["dead_letters"].recent()
    assert dead["reason"] == "unstorable" and dead["topic"] == "estate/e1/s1/-"
    assert "cannot be serialised" in dead["detail"]
    m = p._metrics
    assert m.total("storage_retries_total") == 0
    assert m.value("messages_rejected_total", reason="unstorable") == 1


def test_a_row_the_store_cannot_bind_costs_only_its_message(parts: dict[str, Any]) -> None:
    p = pipeline(parts, sink=UnbindableSink(parts["store"], "w1"))
    p.handle([msg("estate/e1/w1/telemetry", {"seq": 1, "pressure_mpa": 0.3}),
              msg("estate/e1/x1/telemetry", {"seq": 1, "current_a": 3})])
    [dead] = parts["dead_letters"].recent()
    assert dead["reason"] == "unstorable" and dead["topic"] == "estate/e1/w1/-"
    m = p._metrics
    assert (m.total("storage_retries_total"), m.total("messages_processed_total"),
            m.total("telemetry_points_stored_total")) == (0, 1, 1)


def test_a_failed_transaction_is_rolled_back(parts: dict[str, Any]) -> None:
    outbox: AlarmOutbox = parts["outbox"]
    bad = EncodedAlarm("al-bad", "raise", object())  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        outbox.add_encoded([EncodedAlarm("al-ok", "raise", b"{}"), bad], T0)
    # Nothing of the failed transaction stays, and the next one is not refused.
    assert outbox.add_encoded([EncodedAlarm("al-next", "raise", b"{}")], T0) == 1
    assert [e.alarm_id for e in outbox.pending()] == ["al-next"]


def test_an_outage_is_retried_and_shows_as_a_stalled_worker(parts: dict[str, Any]) -> None:
    clock = ManualClock(T0)
    sink = DownSink(parts["store"])
    stopping = threading.Event()
    p = pipeline(parts, sink=sink, clock=clock, stopping=stopping)
    source = IngestQueue()
    acked: list[RawMessage] = []
    worker = IngestWorker(source, p, acked.extend, parts["dead_letters"], p._metrics, clock,
                          on_alarms=lambda: None, stopping=stopping)
    worker.start()
    try:
        clock.advance(60_000)
        assert worker.stalled_ms(len(source)) == 0  # idle is not stalled
        source.put(msg("estate/e1/w1/telemetry", {"seq": 1, "pressure_mpa": 0.3}))
        wait_until(lambda: p._metrics.total("storage_retries_total") >= 2, what="retries")
        clock.advance(10_000)
        assert worker.stalled_ms(len(source)) >= 10_000
        assert acked == [] and parts["dead_letters"].recent() == []  # retried, not dropped
        sink.up.set()
        wait_until(lambda: acked, what="the batch acknowledged once the store is back")
        assert worker.stalled_ms(len(source)) == 0
        assert parts["dead_letters"].recent() == []
    finally:
        worker.stop()
