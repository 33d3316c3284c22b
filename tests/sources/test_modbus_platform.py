"""A Modbus monitor polled by the real `gongzhi gateway` process, seen on the real platform:
its values in `/api/devices`, offline there once its server stops, online again once it is
back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongzhi.devices.modbus_map import load_register_map
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from tests.conftest import Broker, free_port
from tests.e2e.harness import System, wait_until
from tests.sources.push_system import start_with_sources

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
READING = {"residual_ma": 38.0, "cable_temp_c": 29.5, "current_a": 5.75, "voltage_v": 222.4,
           "power_w": 1270.0}


@pytest.fixture
def monitor() -> Iterator[ModbusSlaveServer]:
    server = ModbusSlaveServer("127.0.0.1", free_port(), {1: load_register_map(EXAMPLE)})
    server.set_reading(1, READING)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def system(tmp_path: Path, broker: Broker, monitor: ModbusSlaveServer) -> Iterator[System]:
    sysm = start_with_sources(
        tmp_path / "sys", broker.url, {"elec-301": f"modbus:127.0.0.1:{monitor.port}/1"},
        f"sources:\n  - id: monitors\n    kind: modbus\n    options:\n"
        f"      host: 127.0.0.1\n      port: {monitor.port}\n"
        f"      period: 300ms\n      timeout: 200ms\n      retries: 1\n"
        f"      maps: {{rcm: {EXAMPLE}}}\n      slaves: [{{unit: 1, map: rcm}}]\n")
    try:
        yield sysm
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()


def _device(sysm: System) -> dict[str, Any]:
    answer = sysm.api("property_office", "/api/devices/elec-301")
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_monitor_values_and_presence_reach_api_devices(system: System,
                                                       monitor: ModbusSlaveServer) -> None:
    def with_values() -> dict[str, Any] | None:
        device = _device(system)
        return device if device["values"] else None

    shown = wait_until(with_values, 30, "the monitor's values in /api/devices")
    assert shown["online"] is True and shown["values"] == READING
    monitor.stop()
    wait_until(lambda: _device(system)["online"] is False, 30, "the monitor offline")
    monitor.start()
    wait_until(lambda: _device(system)["online"] is True, 30, "the monitor online again")
