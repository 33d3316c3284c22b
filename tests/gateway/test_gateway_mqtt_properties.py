"""The gateway's cheaper decoding of MQTT 5 properties decodes exactly as paho's own: same
values, same length consumed, same errors; on the paho pinned in pyproject.toml it is in use,
on a changed paho (simulated by changing paho's modules here) the gateway falls back to stock
decoding with one warning; and messages with properties still flow end to end through a real
broker."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from gateway_support import wait_until
from paho.mqtt import __version__ as paho_version
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties

from gongzhi.gateway import mqtt
from gongzhi.gateway.mqtt import (
    SharedTableProperties,
    fast_properties_active,
    use_shared_property_tables,
)
from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path


def encoded(**values: Any) -> bytes:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return bytes(props.pack())  # type: ignore[no-untyped-call]


def attributes(props: Properties) -> dict[str, Any]:
    return {k: v for k, v in vars(props).items()
            if k not in {"packetType", "types", "names", "properties"}}


CASES: list[tuple[str, bytes]] = [
    ("none", encoded()),
    ("none, then the payload", encoded() + b'{"pressure_mpa": 0.3}'),
    ("user properties", encoded(UserProperty=[("site", "yijing"), ("fw", "1.2")])),
    ("content type and expiry", encoded(ContentType="application/json",
                                        MessageExpiryInterval=3600)),
    ("format, topic alias, correlation", encoded(PayloadFormatIndicator=1, TopicAlias=7,
                                                 CorrelationData=b"\x00\x01")),
    ("subscription identifiers", encoded(SubscriptionIdentifier=[3, 300_000])),
    ("long user property", encoded(UserProperty=[("k" * 200, "v" * 300)]) + b"tail"),
]


@pytest.mark.parametrize(("case", "buffer"), CASES, ids=[c for c, _ in CASES])
def test_decodes_as_paho_does(case: str, buffer: bytes) -> None:
    stock, stock_len = Properties(PacketTypes.PUBLISH).unpack(buffer)  # type: ignore[no-untyped-call]
    shared, shared_len = SharedTableProperties(PacketTypes.PUBLISH).unpack(buffer)
    assert shared_len == stock_len
    assert attributes(shared) == attributes(stock)
    assert shared.json() == stock.json()  # type: ignore[no-untyped-call]


def test_refuses_what_paho_refuses() -> None:
    once = encoded(ContentType="a")[1:]
    twice = bytes([2 * len(once)]) + once + once  # a property that may appear only once, twice
    with pytest.raises(MQTTException):
        Properties(PacketTypes.PUBLISH).unpack(twice)  # type: ignore[no-untyped-call]
    with pytest.raises(MQTTException):
        SharedTableProperties(PacketTypes.PUBLISH).unpack(twice)


def test_instances_do_not_share_values() -> None:
    a, _ = SharedTableProperties(PacketTypes.PUBLISH).unpack(encoded(ContentType="x"))
    b, _ = SharedTableProperties(PacketTypes.PUBLISH).unpack(encoded())
    assert attributes(a) == {"ContentType": "x"} and attributes(b) == {}
    built = SharedTableProperties(PacketTypes.PUBLISH)
    built.UserProperty = ("a", "b")
    assert built.pack() == encoded(UserProperty=[("a", "b")])  # type: ignore[no-untyped-call]


def test_swapped_into_paho_publish_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_packet, "Properties", Properties)  # restored after the test
    use_shared_property_tables()
    assert _packet.Properties is SharedTableProperties
    topic = b"estate/e1/w1/telemetry"
    body = len(topic).to_bytes(2, "big") + topic + (7).to_bytes(2, "big") \
        + encoded(UserProperty=[("a", "b")]) + b"{}"
    result = _packet.decode_publish(0x32, body, MQTTProtocolVersion.MQTTv5)
    assert (result.topic, result.mid, result.qos, result.payload) == (topic, 7, 1, b"{}")
    assert attributes(result.properties) == {"UserProperty": [("a", "b")]}


@pytest.fixture
def undecided(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A process where the gateway has not yet chosen its decoding (all restored after)."""
    monkeypatch.setattr(mqtt, "_fast_properties", None)
    monkeypatch.setattr(_packet, "Properties", Properties)
    monkeypatch.setattr(SharedTableProperties, "_tables", None)
    yield monkeypatch


def test_the_pinned_paho_takes_the_fast_path(undecided: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    pinned = re.search(r'"paho-mqtt==([^"]+)"', pyproject)
    assert pinned is not None and paho_version == pinned.group(1)
    with caplog.at_level(logging.WARNING, logger=mqtt.__name__):
        assert use_shared_property_tables() and fast_properties_active()
    assert _packet.Properties is SharedTableProperties
    assert caplog.records == []
    assert mqtt._shared_tables_problem(_packet) is None  # what the self-check compared


def _changed_unpack(undecided: pytest.MonkeyPatch) -> None:
    """A paho whose decoding records something new on every decoded Properties."""
    stock_unpack = Properties.unpack

    def unpack(self: Properties, buffer: bytes) -> tuple[Properties, int]:
        props, length = stock_unpack(self, buffer)  # type: ignore[no-untyped-call]
        object.__setattr__(props, "decoded_by", "paho 3")
        return props, length

    undecided.setattr(Properties, "unpack", unpack)


def _changed_constructor(undecided: pytest.MonkeyPatch) -> None:
    """A paho whose ``Properties`` keeps state its constructor sets up."""
    stock_init, stock_unpack = Properties.__init__, Properties.unpack

    def init(self: Properties, packetType: int) -> None:
        stock_init(self, packetType)  # type: ignore[no-untyped-call]
        object.__setattr__(self, "limits", {"max": 268_435_455})

    def unpack(self: Properties, buffer: bytes) -> tuple[Properties, int]:
        assert self.limits  # type: ignore[attr-defined]
        result: tuple[Properties, int] = stock_unpack(self, buffer)  # type: ignore[no-untyped-call]
        return result

    undecided.setattr(Properties, "__init__", init)
    undecided.setattr(Properties, "unpack", unpack)


def _changed_signature(undecided: pytest.MonkeyPatch) -> None:
    stock_unpack = Properties.unpack

    def unpack(self: Properties, buffer: bytes, strict: bool = True) -> Any:
        return stock_unpack(self, buffer)  # type: ignore[no-untyped-call]

    undecided.setattr(Properties, "unpack", unpack)


CHANGES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "private module gone": (lambda m: m.setitem(sys.modules, "paho.mqtt._packet", None),
                            "ModuleNotFoundError"),
    "private name gone": (lambda m: m.delattr(_packet, "Properties"),
                          "_packet.Properties is not"),
    "signature changed": (_changed_signature, "Properties.unpack takes"),
    "decoding changed": (_changed_unpack, "differently"),
    "constructor state": (_changed_constructor, "differently"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_paho_falls_back_to_stock_decoding(
        change: str, undecided: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    simulate, named = CHANGES[change]
    simulate(undecided)
    with caplog.at_level(logging.WARNING, logger=mqtt.__name__):
        assert use_shared_property_tables() is False
        assert use_shared_property_tables() is False  # decided once: one warning
    assert not fast_properties_active()
    assert getattr(_packet, "Properties", Properties) is Properties  # paho's own, untouched
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "stock paho" in record.getMessage()
    assert named in record.getMessage()
    if change != "private name gone":  # paho still decodes (with its own Properties)
        topic = b"estate/e1/w1/telemetry"
        body = len(topic).to_bytes(2, "big") + topic + (7).to_bytes(2, "big") \
            + encoded(ContentType="x") + b"{}"
        assert _packet.decode_publish(0x32, body, MQTTProtocolVersion.MQTTv5).payload == b"{}"


@pytest.mark.integration
def test_messages_with_properties_are_stored(start_gateway: Callable[..., GatewayService],
                                             broker: Any, data_dir: Path) -> None:
    gw = start_gateway()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="props-device",
                         protocol=paho.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        t = time.time_ns() // 1_000_000 - 60_000
        for seq in (1, 2):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ContentType = "application/json"
            props.UserProperty = [("fw", "1.2")]
            payload = f'{{"ts": {t + seq}, "seq": {seq}, "pressure_mpa": 0.3{seq}}}'
            client.publish("estate/e1/w1/telemetry", payload, qos=1,
                           properties=props if seq == 1 else None).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    wait_until(lambda: gw.metrics.total("messages_processed_total") == 2, what="stored")
    assert re.search(r"^gongzhi_gateway_mqtt_fast_properties 1(\.0)?$", gw.metrics.render(),
                     re.MULTILINE)
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        assert reader.series("w1", "pressure_mpa", t, t + 10) == [(t + 1, 0.31), (t + 2, 0.32)]
