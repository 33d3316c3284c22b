"""Property-based fuzzing of the gateway's payload decoder: whatever arrives (any bytes, any JSON,
any topic), ``Decoder.decode`` either returns valid domain messages or raises its documented
rejection, ``RejectedMessage`` with one of the stable ``Reason`` values. Nothing else escapes.

What it accepts is checked too: a registered device of the topic, finite values inside the
catalogue's range, a timestamp not after the receive time."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import CATALOGUE, DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.messages import DeviceEvent, RawMessage, StatusChange, Telemetry
from gongzhi.gateway.reasons import Reason

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
REASONS = {reason.value for reason in Reason}
RECORDS = [DeviceRecord("s1", DeviceType.SMOKE, Location("e1", "b1", "u1", "3", "301")),
           DeviceRecord("w1", DeviceType.WATER_PRESSURE, Location("e1", "b1", "u1", "1", "r")),
           DeviceRecord("x1", DeviceType.ELECTRICAL, Location("e1", "b2", "u1", "3", "302"))]
NOW_MS = 1_767_225_600_000
METRICS = sorted({m for spec in CATALOGUE.values() for m in spec.metrics})
EVENTS = sorted({e for spec in CATALOGUE.values() for e in spec.events})

# --- strategies ---------------------------------------------------------------------------

# Numbers at the edges: past 64 bits (orjson refuses them, the standard parser takes them),
# past a float's range, huge finite floats whose products overflow, and plausible times.
extremes = st.sampled_from([2**63, 2**64, 10**400, -(10**400), 1e308, -1e308, 1e300, 5e-324,
                            math.inf, -math.inf, math.nan])
numbers = st.one_of(
    extremes, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([NOW_MS, NOW_MS - 60_000, NOW_MS + 10**9, NOW_MS / 1000, 0, -1, 0.3]))
scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=20),
    st.sampled_from(["2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00", "9999-12-31T23:59:59Z",
                     "0001-01-01T00:00:00+14:00", "online", "Pa", "Cel", "kPa"]))
keys = st.one_of(st.sampled_from(["ts", "seq", "values", "event", "detail", "bn", "bt", "bu",
                                  "bv", "n", "t", "u", "v", *METRICS, *EVENTS]),
                 st.text(max_size=10))
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                     st.dictionaries(keys, inner, max_size=6)),
    max_leaves=25)


@st.composite
def device_documents(draw: st.DrawFn, device_type: DeviceType) -> Any:
    """Shapes close to what a device of this type sends (its own metrics and events), with any
    value in any place."""
    spec = CATALOGUE[device_type]
    metric = st.one_of(st.sampled_from(sorted(spec.metrics)), st.sampled_from(METRICS))
    times = {"ts": scalars, "seq": scalars}
    shape = draw(st.sampled_from(["object", "flat", "senml", "event", "any"]))
    if shape == "object":
        return draw(st.fixed_dictionaries({"values": st.dictionaries(metric, numbers,
                                                                     max_size=3)},
                                          optional=times))
    if shape == "flat":
        return draw(st.dictionaries(st.one_of(metric, st.sampled_from(["ts", "seq"])),
                                    st.one_of(numbers, scalars), max_size=4))
    if shape == "senml":
        names = st.one_of(metric, st.sampled_from(["urn:dev:w1:", "x:residual_ma", ""]))
        record = st.fixed_dictionaries({}, optional={
            "bn": names, "n": names, "bt": numbers, "t": numbers, "bv": numbers, "v": numbers,
            "bu": st.sampled_from(["Pa", "kPa", "MPa", "Cel", "A", "mA", "%EL", "x"]),
            "u": st.one_of(scalars, st.sampled_from(["Pa", "bar", "Cel", "mA", "/"]))})
        return draw(st.lists(record, max_size=4))
    if shape == "event":
        return draw(st.fixed_dictionaries(
            {"event": st.one_of(st.sampled_from(sorted(spec.events)), scalars)},
            optional={**times, "detail": json_values}))
    return draw(json_values)


documents = st.one_of(*(device_documents(t) for t in DeviceType))

ids = st.one_of(st.sampled_from(["s1", "w1", "x1", "e1", "e2", "nobody"]),
                st.text(max_size=70))
channels = st.one_of(st.sampled_from(["telemetry", "event", "status"]), st.text(max_size=12))
structured_topics = st.builds(lambda e, d, c: f"estate/{e}/{d}/{c}", ids, ids, channels)
topics = st.one_of(structured_topics, st.text(max_size=120),
                   st.lists(st.text(max_size=8), max_size=6).map("/".join))
received = st.one_of(st.just(NOW_MS), st.integers(min_value=0, max_value=2**62))


def encode(document: Any) -> bytes:
    try:
        return json.dumps(document, allow_nan=True).encode()
    except (ValueError, OverflowError):  # e.g. an integer with too many digits to print
        return b"{}"


# --- the property -------------------------------------------------------------------------


def decode_checked(decoder: Decoder, raw: RawMessage) -> None:
    try:
        messages = decoder.decode(raw)
    except RejectedMessage as exc:
        assert exc.reason in REASONS, exc.reason
        return
    # Anything else propagating fails the test, with hypothesis's minimal example.
    device = raw.topic.split("/")[2]
    for message in messages:
        assert message.device_id == device
        assert isinstance(message, Telemetry | DeviceEvent | StatusChange)
        if isinstance(message, Telemetry):
            spec = CATALOGUE[message.device_type]
            assert message.values
            for name, value in message.values.items():
                limits = spec.metrics[name]
                assert math.isfinite(value) and limits.low <= value <= limits.high
        if isinstance(message, Telemetry | DeviceEvent):
            assert message.ts_ms <= raw.received_ms, "a device time after the receive time"


@FUZZ
@given(topic=topics, payload=st.binary(max_size=300), received_ms=received)
def test_arbitrary_bytes_on_arbitrary_topics(topic: str, payload: bytes, received_ms: int
                                              ) -> None:
    decode_checked(Decoder(Registry(RECORDS)), RawMessage(topic, payload, received_ms))


@FUZZ
@given(data=st.data(), record=st.sampled_from(RECORDS),
       channel=st.sampled_from(["telemetry", "telemetry", "event", "status"]),
       received_ms=received)
def test_arbitrary_json_to_registered_devices(data: st.DataObject, record: DeviceRecord,
                                              channel: str, received_ms: int) -> None:
    document = data.draw(device_documents(record.type), label="document")
    raw = RawMessage(f"estate/e1/{record.device_id}/{channel}", encode(document), received_ms)
    decode_checked(Decoder(Registry(RECORDS)), raw)


# Found by this fuzzing (each once escaped as OverflowError): a value, a ts and a SenML value
# past a float's range, and SenML seconds that overflow only once turned into milliseconds.
@pytest.mark.parametrize("topic, document", [
    ("estate/e1/w1/telemetry", {"values": {"pressure_mpa": 10**400}}),
    ("estate/e1/w1/telemetry", {"ts": 10**400, "values": {"pressure_mpa": 0.3}}),
    ("estate/e1/s1/event", {"ts": -(10**400), "event": "tamper"}),
    ("estate/e1/w1/telemetry", [{"n": "pressure_mpa", "v": 10**400}]),
    ("estate/e1/w1/telemetry", [{"n": "pressure_mpa", "v": 0.3, "t": 1e307}]),
    ("estate/e1/w1/telemetry", {"ts": 1e300, "pressure_mpa": 0.3}),
])
def test_overflowing_numbers_are_refused(topic: str, document: Any) -> None:
    with pytest.raises(RejectedMessage):
        Decoder(Registry(RECORDS)).decode(RawMessage(topic, encode(document), NOW_MS))


@FUZZ
@given(topic=structured_topics, document=documents)
def test_arbitrary_json_on_arbitrary_topics(topic: str, document: Any) -> None:
    decode_checked(Decoder(Registry(RECORDS)), RawMessage(topic, encode(document), NOW_MS))


@FUZZ
@given(device=st.sampled_from(["s1", "w1", "x1"]), text=st.text(max_size=200))
def test_arbitrary_text_payloads(device: str, text: str) -> None:
    for channel in ("telemetry", "event", "status"):
        raw = RawMessage(f"estate/e1/{device}/{channel}", text.encode("utf-8", "surrogatepass"),
                         NOW_MS)
        decode_checked(Decoder(Registry(RECORDS)), raw)
