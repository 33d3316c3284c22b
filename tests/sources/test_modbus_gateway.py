"""Modbus monitors polled by a whole gateway from a real pymodbus server on loopback: values
reach the platform's device states, the server stopped makes the monitors offline within two
poll periods (and their building's offline cluster), restarted online again; a value outside
the catalogue's range is a dead letter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.modbus_map import load_register_map
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.service import GatewayService
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from tests.conftest import free_port
from tests.gateway.gateway_support import AlarmPeer, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
PERIOD = "300ms"
READING = {"residual_ma": 45.0, "cable_temp_c": 31.5, "current_a": 8.25, "voltage_v": 221.3,
           "power_w": 1825.0}
UNITS = (1, 2, 3, 4, 5)  # five monitors of one building: enough for an offline cluster


@pytest.fixture
def monitors() -> Iterator[ModbusSlaveServer]:
    rcm = load_register_map(EXAMPLE)
    server = ModbusSlaveServer("127.0.0.1", free_port(), {unit: rcm for unit in UNITS})
    for unit in UNITS:
        server.set_reading(unit, READING)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def modbus_sources(port: int) -> str:
    return (f"sources:\n  - id: riser-monitors\n    kind: modbus\n    options:\n"
            f"      host: 127.0.0.1\n      port: {port}\n      period: {PERIOD}\n"
            f"      timeout: 200ms\n      retries: 1\n      backoff: 20ms\n"
            f"      maps: {{rcm: {EXAMPLE}}}\n"
            f"      slaves:\n" + "".join(f"        - {{unit: {u}, map: rcm}}\n" for u in UNITS))


def write_modbus_registry(path: Path, port: int) -> None:
    write_registry(path, [
        DeviceRecord(f"x{unit}", DeviceType.ELECTRICAL, Location("e1", "b1", "1", "1", f"10{unit}"),
                     external_id=f"modbus:127.0.0.1:{port}/{unit}") for unit in UNITS])


def _latest(peer: AlarmPeer, device_id: str) -> dict[str, Any] | None:
    states = [s for s in peer.device_states if s["device_id"] == device_id]
    return states[-1] if states else None


def test_monitor_values_offline_and_online_again(
        source_gateway: Callable[..., GatewayService], data_dir: Path, peer: AlarmPeer,
        monitors: ModbusSlaveServer) -> None:
    write_modbus_registry(data_dir / "registry.csv", monitors.port)
    gw = source_gateway(modbus_sources(monitors.port))
    state = wait_until(lambda: (s := _latest(peer, "x1")) and s["values"] and s,
                       what="the monitor's values at the platform")
    assert state["online"] and state["values"] == READING
    assert gw.sources is not None
    source: Any = gw.sources.sources.get("riser-monitors")
    cycles = source.cycles
    monitors.stop()
    devices = [f"x{unit}" for unit in UNITS]
    wait_until(lambda: all((s := _latest(peer, d)) and not s["online"] for d in devices),
               what="the monitors offline")
    # Reported offline within two poll periods of the server stopping.
    assert all(s.offline_cycle - cycles <= 2 for s in source.slaves)
    wait_until(lambda: ("e1:b1", "offline_cluster") in peer.kinds(),
               what="the building's offline cluster")
    monitors.start()
    wait_until(lambda: all((s := _latest(peer, d)) and s["online"] for d in devices),
               what="the monitors online again")


def test_a_value_outside_the_physical_range_is_a_dead_letter(
        source_gateway: Callable[..., GatewayService], data_dir: Path,
        monitors: ModbusSlaveServer) -> None:
    write_modbus_registry(data_dir / "registry.csv", monitors.port)
    monitors.set_reading(2, {**READING, "residual_ma": 6000.0})  # catalogue: 0-5000 mA
    gw = source_gateway(modbus_sources(monitors.port))
    assert gw.http is not None
    url = f"http://127.0.0.1:{gw.http.port}/dead-letters?reason=out_of_range"
    letters = wait_until(lambda: httpx.get(url).json(), what="the out-of-range dead letter")
    assert "residual_ma=6000" in letters[0]["detail"]
    assert "modbus:127.0.0.1" in letters[0]["payload"]
