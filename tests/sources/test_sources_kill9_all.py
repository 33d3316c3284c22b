"""Every kind of source at once, the gateway killed with SIGKILL in the middle of their streams
and started again: our own contract, ChirpStack 4 and a vendor's JSON (mapped) over MQTT
(persistent sessions, acknowledged after commit), CTWing and OneNET pushes over HTTP
(answered once spooled; the platforms retry what is not answered) and Modbus monitors polled
by the gateway. Nothing any
source accepted is lost and nothing is kept twice: every alarm is one ticket, every reading
stored once, and the Modbus monitors are polled again after the restart."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import yaml

from gongzhi.core.broker import wait_for_port
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.modbus_map import load_register_map
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from gongzhi.simulators.outgoing import Message as SimMessage
from gongzhi.simulators.protocols import Route
from gongzhi.simulators.protocols.chirpstack import ChirpStackEncoder, dev_eui
from gongzhi.simulators.protocols.ctwing import CtwingEncoder
from gongzhi.simulators.protocols.onenet import OnenetEncoder, signed_push
from tests.chaos.chaos_support import (
    ALARM_DEVICES,
    ESTATE,
    TELEMETRY_DEVICES,
    DevicePublisher,
    Message,
    Tally,
    chaos_registry,
    counter,
    gateway_metric,
    now_ms,
    persistent_broker,
    planned_stream,
    running,
    settle,
    start_gateway,
    start_platform,
    start_system,
)
from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until
from tests.sources.test_push_kill9 import CarrierPusher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHIRPSTACK = ROOT / "deploy" / "sources" / "chirpstack-simulated.yaml"
CARRIERS = ROOT / "deploy" / "sources" / "carriers-simulated.yaml"
RCM = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
ALARMS = 40
TELEMETRY = 800
ROUTES = ("native", "chirpstack", "ctwing", "onenet", "mqtt_json")
MONITORS = 2
TOKEN = "kill9-onenet-token"
Reporter = Callable[[str, object], None]


def route(device_id: str) -> str:
    """Each route takes every fourth device of each kind."""
    devices = ALARM_DEVICES if device_id in ALARM_DEVICES else TELEMETRY_DEVICES
    return ROUTES[devices.index(device_id) % len(ROUTES)]


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[Broker]:
    with persistent_broker(tmp_path) as broker:
        yield broker


class Senders:
    """What every sender got accepted, summed (the tally's publisher)."""

    def __init__(self, *senders: Any) -> None:
        self.senders = senders

    @property
    def alarms(self) -> int:
        return sum(int(s.alarms) for s in self.senders)

    @property
    def telemetry(self) -> int:
        return sum(int(s.telemetry) for s in self.senders)


def sources_file(work: Path, ctwing_port: int, onenet_port: int, modbus_port: int) -> Path:
    """The simulated ChirpStack, carrier and Modbus sources (deploy/sources) on this run's
    ports, in one file; the OneNET token in a file beside it."""
    chirpstack = yaml.safe_load(CHIRPSTACK.read_text())["sources"]
    carriers = yaml.safe_load(CARRIERS.read_text())["sources"]
    for source in carriers:
        options = source["options"]
        if source["kind"] == "ctwing":
            options["listen"] = f"127.0.0.1:{ctwing_port}"
        elif source["kind"] == "onenet":
            options["listen"] = f"127.0.0.1:{onenet_port}"
        else:
            options.update(port=modbus_port, period="200ms", maps={"rcm": str(RCM)},
                           slaves=[{"unit": u, "map": "rcm"} for u in range(1, MONITORS + 1)])
    vendor = {"id": "vendor", "kind": "mqtt_json", "options": {
        "topics": ["hydrant/+/data"],
        "device": {"topic_regex": "^hydrant/(?P<id>[^/]+)/data$", "lookup": "external_id"},
        "ts": {"path": "$.time", "unit": "ms"}, "seq": "$.counter",
        "mapping": {"metrics": {"pressure_mpa": {"path": "$.data.pressure", "unit": "bar"}},
                    "events": [{"path": "$.data.Alarm_Status", "values": {"5": "tamper"}}]}}}
    (work / "onenet.token").write_text(TOKEN)
    path = work / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [*chirpstack, *carriers, vendor]}))
    return path


def vendor_json(m: Message) -> Message:
    """A message of the stream as the vendor's hydrant sensors publish it."""
    body = orjson.loads(m.payload)
    _, _, device, _ = m.topic.split("/")
    data = {"Alarm_Status": 5} if m.alarm else {"pressure": body["values"]["pressure_mpa"] * 10}
    return Message(f"hydrant/H-{device}/data",
                   orjson.dumps({"time": body["ts"], "counter": body["seq"], "data": data}),
                   m.alarm)


def test_gateway_kill_9_with_every_source_active_loses_nothing(
        tmp_path: Path, durable_broker: Broker, record_property: Reporter) -> None:
    ctwing_port, onenet_port, modbus_port = free_port(), free_port(), free_port()
    rcm = load_register_map(RCM)
    monitors = ModbusSlaveServer("127.0.0.1", modbus_port,
                                 {u: rcm for u in range(1, MONITORS + 1)})
    for unit in range(1, MONITORS + 1):
        monitors.set_reading(unit, {"residual_ma": 20.0 + unit, "cable_temp_c": 33.0,
                                    "current_a": 7.0, "voltage_v": 221.0, "power_w": 1540.0})
    sources = sources_file(tmp_path, ctwing_port, onenet_port, modbus_port)
    sysm = start_system(tmp_path / "sys", durable_broker.url, start=False,
                        gateway_env={"GONGZHI_SOURCES": str(sources)})
    plain = chaos_registry()
    ctwing = CtwingEncoder(plain, Route(push_url=f"http://127.0.0.1:{ctwing_port}/ctwing"))
    onenet = OnenetEncoder(plain, 0, Route(push_url=f"http://127.0.0.1:{onenet_port}/onenet",
                                           push_token=TOKEN))
    identity = {"native": lambda r: None, "chirpstack": lambda r: dev_eui(r.device_id),
                "ctwing": ctwing.external_id, "onenet": onenet.external_id,
                "mqtt_json": lambda r: f"H-{r.device_id}"}
    records = [replace(r, external_id=identity[route(r.device_id)](r)) for r in plain]
    records += [DeviceRecord(f"rcm-{u}", DeviceType.ELECTRICAL,
                             Location(ESTATE, "B9", "U1", "1", f"m{u}"),
                             external_id=f"modbus:127.0.0.1:{modbus_port}/{u}")
                for u in range(1, MONITORS + 1)]
    write_registry(sysm.root / "registry.csv", records)

    chirpstack = ChirpStackEncoder(4, records, 0)
    mqtt: list[Message] = []
    pushes: dict[str, list[tuple[bytes, bool]]] = {"ctwing": [], "onenet": []}
    rng = random.Random(5)
    for m in planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000):
        item = SimMessage(0, m.topic, m.payload, 1)
        way = route(m.topic.split("/")[2])
        if way == "native":
            mqtt.append(m)
        elif way == "mqtt_json":
            mqtt.append(vendor_json(m))
        elif way == "chirpstack":
            encoded = chirpstack.message(item)
            assert encoded is not None
            mqtt.append(Message(encoded.topic, encoded.payload, m.alarm))
        elif way == "ctwing":
            report = ctwing.report(item)
            assert report is not None
            pushes["ctwing"].append((orjson.dumps(report), m.alarm))
        else:
            nonce = "".join(rng.choices(string.ascii_letters, k=8))
            pushes["onenet"].append((signed_push(TOKEN, onenet.messages(item), nonce),
                                     m.alarm))
    assert all(len(bodies) > ALARMS // 8 for bodies in pushes.values())

    tally = Tally("gateway_kill_9_every_source")
    monitors.start()
    try:
        start_platform(sysm)
        start_gateway(sysm)
        wait_for_port("127.0.0.1", ctwing_port, 30)
        wait_for_port("127.0.0.1", onenet_port, 30)
        with running(sysm), DevicePublisher(durable_broker.port, window=20) as publisher:
            # Every stream paced to last a few seconds, so that each is under way at the kill.
            pushers = [CarrierPusher(f"http://127.0.0.1:{ctwing_port}/ctwing", pushes["ctwing"],
                                     pace_s=0.02),
                       CarrierPusher(f"http://127.0.0.1:{onenet_port}/onenet", pushes["onenet"],
                                     pace_s=0.02)]
            senders = Senders(publisher, *pushers)
            streams = [(publisher, len(mqtt))] + [(p, len(p.bodies)) for p in pushers]
            publisher.publish_in_background(mqtt, pace_s=0.1)
            for pusher in pushers:
                pusher.start()
            wait_until(lambda: gateway_metric(sysm, "source_messages_accepted_total") > 0
                       and all(s.alarms + s.telemetry >= n // 3 for s, n in streams), 60,
                       "a third of every stream, the monitors polled")
            sysm.services["gateway"].kill()
            tally.extra["killed_after"] = senders.alarms + senders.telemetry
            failures = [p.failures for p in pushers]
            wait_until(lambda: all(p.failures > f + 3 or p.answered == len(p.bodies)
                                   for p, f in zip(pushers, failures, strict=True)),
                       30, "pushes refused while the gateway is down")
            start_gateway(sysm)
            publisher.join()
            for pusher in pushers:
                pusher.join()
            settle(tally, counter(sysm, tally, cast(DevicePublisher, senders)), timeout_s=90)
            # The gateway started again took from every source (its counters began at 0),
            # the Modbus monitors polled again included.
            for source in ("lorawan", "telecom", "mobile", "vendor", "riser-monitors"):
                accepted = f'source_messages_accepted_total{{source="{source}"}}'
                wait_until(lambda a=accepted: gateway_metric(sysm, a) > 0, 30,
                           f"messages of {source} after the restart")
            tally.extra["push_retries"] = sum(p.failures for p in pushers)
            tally.report(record_property)
    finally:
        monitors.stop()
    assert tally.alarms_published == ALARMS and tally.telemetry_published == TELEMETRY
    assert tally.tickets == ALARMS and tally.duplicates == 0, tally.line()
    assert tally.dropped == 0 and tally.stored == TELEMETRY, tally.line()
