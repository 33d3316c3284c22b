"""The Modbus poller against a real pymodbus server on loopback: readings, events on a rising
edge, offline within two poll periods of the server stopping, online again when it is back,
and what the pipeline is handed for each (the translation to our contract)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.modbus_map import load_register_map
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.sources.modbus import ModbusOptions, ModbusSource
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from tests.conftest import free_port
from tests.sources.push_system import source_context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
PERIOD_S = 0.25
READING = {"residual_ma": 120.0, "cable_temp_c": 35.5, "current_a": 12.3, "voltage_v": 220.1,
           "power_w": 2700.5}


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[ModbusSlaveServer, ModbusSource, IngestQueue]]:
    rcm = load_register_map(EXAMPLE)
    server = ModbusSlaveServer("127.0.0.1", free_port(), {1: rcm, 2: rcm})
    server.start()
    queue = IngestQueue()
    context = source_context("monitors", queue, tmp_path)
    options = ModbusOptions.model_validate({
        "host": "127.0.0.1", "port": server.port, "period": PERIOD_S, "timeout": 0.2,
        "retries": 1, "backoff": 0.02, "maps": {"rcm": rcm},
        "slaves": [{"unit": 1, "map": "rcm"}, {"unit": 2, "map": "rcm"}]})
    source = ModbusSource(context, options)
    try:
        yield server, source, queue
    finally:
        source.close()
        server.stop()


def _next(queue: IngestQueue, unit: int, timeout_s: float = 10.0) -> dict[str, object]:
    """The next message of ``unit`` (others skipped), waiting at most ``timeout_s``."""
    while True:
        batch = queue.take(1, timeout_s=timeout_s)
        if not batch:
            raise AssertionError(f"no message of unit {unit} within {timeout_s} s")
        body = orjson.loads(batch[0].payload)
        if str(body["id"]).endswith(f"/{unit}"):
            return dict(body)


def test_readings_events_offline_and_online_again(
        line: tuple[ModbusSlaveServer, ModbusSource, IngestQueue]) -> None:
    server, source, queue = line
    server.set_reading(1, READING, {"arc_fault_alarm": True})
    source.start()
    first = _next(queue, 1)
    assert first["id"] == f"modbus:127.0.0.1:{server.port}/1"
    assert first["values"] == READING
    assert first["events"] == ["arc_fault"]
    second = _next(queue, 1)
    assert "events" not in second  # the alarm is still on: sent once, on its rising edge
    cycles_at_stop = source.cycles
    server.stop()
    offline: set[str] = set()
    while len(offline) < 2:  # both slaves of the line, in whichever order they fell silent
        batch = queue.take(1, timeout_s=10)
        assert batch, "the slaves were not reported offline"
        body = orjson.loads(batch[0].payload)
        if body.get("status") == "offline":
            offline.add(body["id"])
    assert source.slaves[0].offline_cycle - cycles_at_stop <= 2  # within two poll periods
    assert source.health().up is False and "answers" in source.health().reason
    server.start()
    back = _next(queue, 1)
    assert back["status"] == "online" and back["values"] == READING
    assert back["events"] == ["arc_fault"]  # still on after the outage: raised again
    assert source.health().up


def _record(device_id: str, external_id: str) -> DeviceRecord:
    return DeviceRecord(device_id=device_id, type=DeviceType.ELECTRICAL,
                        location=Location("e1", "b1", "1", "1", "101"), external_id=external_id)


def test_translation_to_our_contract(
        line: tuple[ModbusSlaveServer, ModbusSource, IngestQueue]) -> None:
    _, source, _ = line
    registry = Registry([_record("x1", "MODBUS:127.0.0.1:502/1")])
    raw = RawMessage("modbus/monitors", orjson.dumps(
        {"id": "modbus:127.0.0.1:502/1", "ts": 1_767_225_600_000, "values": READING,
         "events": ["arc_fault"], "status": "online"}), 1_767_225_600_000, source="monitors")
    status, telemetry, event = source.translate(raw, registry)
    assert status.topic == "estate/e1/x1/status" and status.payload == b"online"
    assert telemetry.topic == "estate/e1/x1/telemetry"
    assert orjson.loads(telemetry.payload)["values"] == READING
    assert event.topic == "estate/e1/x1/event"
    assert orjson.loads(event.payload)["event"] == "arc_fault"
    offline = RawMessage("modbus/monitors", b'{"id":"modbus:127.0.0.1:502/1","status":"offline"}',
                         1, source="monitors")
    assert [m.payload for m in source.translate(offline, registry)] == [b"offline"]
    unknown = RawMessage("modbus/monitors", b'{"id":"modbus:127.0.0.1:502/9","values":{}}', 1,
                         source="monitors")
    with pytest.raises(RejectedMessage) as caught:
        source.translate(unknown, registry)
    assert caught.value.reason == "unknown_device" and "502/9" in caught.value.detail
