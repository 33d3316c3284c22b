"""Modbus RTU: the poller on a serial port, a pymodbus RTU server on the other end of the line
(two pseudo-terminals joined by a thread that copies the bytes each way, as a null-modem cable
would), readings and the line going silent."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gongzhi.devices.modbus_map import load_register_map
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.sources.modbus import ModbusOptions, ModbusSource
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from tests.sources.push_system import source_context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"


class NullModem:
    """Two serial ports (pty slaves) whose masters a thread joins; ``cut()`` stops the copying
    (the line goes silent) and ``close()`` ends it."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self.ports: list[str] = []
        self._masters: list[int] = []
        for _ in range(2):
            master, slave = pty.openpty()
            tty.setraw(slave)
            self._masters.append(master)
            self._fds += [master, slave]
            self.ports.append(os.ttyname(slave))
        self.connected = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        a, b = self._masters
        while not self._stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if self.connected:
                    os.write(b if fd == a else a, data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in self._fds:
            os.close(fd)


@pytest.fixture
def line() -> Iterator[NullModem]:
    modem = NullModem()
    try:
        yield modem
    finally:
        modem.close()


def test_rtu_readings_and_a_silent_line(line: NullModem, tmp_path: Path) -> None:
    rcm = load_register_map(EXAMPLE)
    server = ModbusSlaveServer("", 0, {3: rcm}, serial=line.ports[1], baudrate=9600)
    server.set_reading(3, {"residual_ma": 75.0, "cable_temp_c": 41.2, "current_a": 9.5,
                           "voltage_v": 219.9, "power_w": 2088.0})
    server.start()
    queue = IngestQueue()
    context = source_context("rs485", queue, tmp_path)
    options = ModbusOptions.model_validate({
        "transport": "rtu", "serial": line.ports[0], "baudrate": 9600, "period": "300ms",
        "timeout": "300ms", "retries": 1, "backoff": "20ms", "maps": {"rcm": rcm},
        "slaves": [{"unit": 3, "map": "rcm"}]})
    source = ModbusSource(context, options)
    source.start()
    try:
        (first,) = queue.take(1, timeout_s=10)
        body = orjson.loads(first.payload)
        assert body["id"] == f"modbus:{line.ports[0]}/3"
        assert body["values"] == {"residual_ma": 75.0, "cable_temp_c": 41.2, "current_a": 9.5,
                                  "voltage_v": 219.9, "power_w": 2088.0}
        line.connected = False  # the bus goes quiet
        while True:
            batch = queue.take(1, timeout_s=10)
            assert batch, "no offline report"
            if orjson.loads(batch[0].payload).get("status") == "offline":
                break
        line.connected = True
        while True:
            batch = queue.take(1, timeout_s=10)
            assert batch, "no report after the line came back"
            if orjson.loads(batch[0].payload).get("status") == "online":
                break
    finally:
        source.close()
        server.stop()
