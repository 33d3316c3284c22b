"""The simulators' ``ctwing``, ``onenet`` and ``modbus`` protocols against a whole gateway whose
sources are the shipped deploy/sources/carriers-simulated.yaml: the simulation's messages of our
contract, encoded as each route delivers them, become the same telemetry and alarms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.service import GatewayService
from gongzhi.simulators.outgoing import Link, LinkAction, Message, Outgoing
from gongzhi.simulators.protocols import Route, load_encoder
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.conftest import free_port
from tests.gateway.gateway_support import AlarmPeer, wait_until

ROOT = Path(__file__).resolve().parents[2]
SIMULATED = ROOT / "deploy" / "sources" / "carriers-simulated.yaml"
TOKEN = "simulated-onenet-token"


def _records() -> list[DeviceRecord]:
    loc = Location("e1", "b1", "1", "3", "301")
    return [DeviceRecord("s1", DeviceType.SMOKE, loc), DeviceRecord("w1", DeviceType.WATER_PRESSURE,
                                                                    loc),
            DeviceRecord("x1", DeviceType.ELECTRICAL, loc)]


def _sources(data_dir: Path, ctwing_port: int, onenet_port: int, modbus_port: int) -> str:
    (data_dir / "onenet.token").write_text(TOKEN)
    text = SIMULATED.read_text()
    for old, new in (("0.0.0.0:8091", f"127.0.0.1:{ctwing_port}"),
                     ("0.0.0.0:8092", f"127.0.0.1:{onenet_port}"),
                     ("port: 5020", f"port: {modbus_port}"),
                     ("period: 5s", "period: 300ms"),
                     ("../../gateway/gongzhi/gateway/sources/maps/",
                      str(ROOT / "gateway/gongzhi/gateway/sources/maps") + "/")):
        assert old in text, old
        text = text.replace(old, new)
    return text


def _messages(now: int) -> list[Outgoing]:
    def msg(device: int, device_id: str, channel: str, body: dict[str, Any]) -> Message:
        return Message(device, f"estate/e1/{device_id}/{channel}", orjson.dumps(body), 1)

    return [
        msg(0, "s1", "telemetry", {"ts": now - 5000, "seq": 1,
                                   "values": {"smoke_db_m": 0.01, "temp_c": 24.0,
                                              "battery_pct": 91.0}}),
        msg(1, "w1", "telemetry", {"ts": now - 5000, "seq": 1, "values": {"pressure_mpa": 0.32}}),
        msg(2, "x1", "telemetry", {"ts": now - 5000, "seq": 1,
                                   "values": {"residual_ma": 40.0, "cable_temp_c": 30.5,
                                              "current_a": 6.5, "voltage_v": 221.0,
                                              "power_w": 1400.0}}),
        msg(0, "s1", "event", {"ts": now - 4000, "seq": 2, "event": "smoke_alarm"}),
        Link(1, LinkAction.DROP),
    ]


def test_each_route_brings_the_same_estate_in(
        source_gateway: Callable[..., GatewayService], data_dir: Path, peer: AlarmPeer) -> None:
    records = _records()
    ports = free_port(), free_port(), free_port()
    route = Route(push_url=f"http://127.0.0.1:{ports[0]}/ctwing", push_token=None,
                  modbus_listen=f"127.0.0.1:{ports[2]}")
    for protocol, push_url, device in (("ctwing", f"http://127.0.0.1:{ports[0]}/ctwing", "s1"),
                                       ("onenet", f"http://127.0.0.1:{ports[1]}/onenet", "w1"),
                                       ("modbus", None, "x1")):
        encoder = load_encoder(protocol, records, 1, Route(
            push_url=push_url, push_token=TOKEN if protocol == "onenet" else None,
            modbus_listen=route.modbus_listen))
        identity = encoder.external_id(next(r for r in records if r.device_id == device))
        assert identity
        records = [DeviceRecord(r.device_id, r.type, r.location, external_id=identity)
                   if r.device_id == device else r for r in records]
    write_registry(data_dir / "registry.csv", records)
    encoders = [load_encoder(p, records, 1, Route(
        push_url=u, push_token=TOKEN if p == "onenet" else None,
        modbus_listen=route.modbus_listen))
        for p, u in (("modbus", None), ("ctwing", f"http://127.0.0.1:{ports[0]}/ctwing"),
                     ("onenet", f"http://127.0.0.1:{ports[1]}/onenet"))]
    modbus, ctwing, onenet = encoders
    modbus.open()  # the monitors' server is up before the gateway polls it
    try:
        gw = source_gateway(_sources(data_dir, *ports))
        now = gw.clock.now_ms()
        items = _messages(now)
        ctwing.open()
        onenet.open()
        try:
            assert modbus.encode(items)[0] == items[0]  # not a monitor: our contract, as is
            assert ctwing.encode([items[0], items[3]]) == []
            assert onenet.encode([items[1], items[4]]) == []
        finally:
            ctwing.close()
            onenet.close()
        wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds(), what="the CTWing smoke alarm")
        with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
            wait_until(lambda: reader.latest("w1", "pressure_mpa") is not None,
                       what="the OneNET pressure")
            assert reader.series("w1", "pressure_mpa", now - 6000, now) == [(now - 5000, 0.32)]
            assert reader.series("s1", "battery_pct", now - 6000, now) == [(now - 5000, 91.0)]
            # A poll before the simulation wrote the registers reads zeros: wait for 40 mA.
            wait_until(lambda: (latest := reader.latest("x1", "residual_ma")) is not None
                       and latest[1] == 40.0, what="the Modbus monitor's reading")
            assert reader.latest("x1", "voltage_v") is not None
        wait_until(lambda: any(s["device_id"] == "w1" and not s["online"]
                               for s in peer.device_states), what="w1 offline (its link dropped)")
    finally:
        modbus.close()
