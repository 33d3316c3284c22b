"""Decoding and validation of device messages against the registry and the catalogue."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from gateway_support import T0, make_records

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.registry import Registry
from gongzhi.gateway.decode import MAX_FUTURE_SKEW_MS, Decoder
from gongzhi.gateway.messages import DeviceEvent, Presence, RawMessage, StatusChange, Telemetry


@pytest.fixture
def decoder() -> Decoder:
    return Decoder(Registry(make_records()))


def raw(topic: str, payload: Any, received_ms: int = T0) -> RawMessage:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return RawMessage(topic, data, received_ms)


def reason_of(decoder: Decoder, message: RawMessage) -> str:
    with pytest.raises(RejectedMessage) as caught:
        decoder.decode(message)
    return caught.value.reason


def test_object_form(decoder: Decoder) -> None:
    [m] = decoder.decode(raw("estate/e1/x1/telemetry", {
        "ts": T0 - 5000, "seq": 7, "values": {"residual_ma": 120, "voltage_v": 221.5}}))
    assert m == Telemetry("x1", "e1", m.device_type, T0 - 5000,
                          {"residual_ma": 120.0, "voltage_v": 221.5}, T0, 7)
    assert m.device_type.value == "electrical"


def test_flat_form_without_ts_takes_the_receive_time(decoder: Decoder) -> None:
    [m] = decoder.decode(raw("estate/e1/w1/telemetry", {"pressure_mpa": 0.31}, T0 + 42))
    assert isinstance(m, Telemetry)
    assert (m.ts_ms, m.values, m.seq, m.device_clock) == (T0 + 42, {"pressure_mpa": 0.31},
                                                          None, False)


def test_iso_timestamps_with_offset(decoder: Decoder) -> None:
    [a] = decoder.decode(raw("estate/e1/w1/telemetry",
                             {"ts": "2026-01-01T07:59:59+08:00", "pressure_mpa": 0.3}))
    [b] = decoder.decode(raw("estate/e1/w1/telemetry",
                             {"ts": "2025-12-31T23:59:59.5Z", "pressure_mpa": 0.3}))
    assert (a.ts_ms, b.ts_ms) == (T0 - 1000, T0 - 500)  # type: ignore[union-attr]


def test_senml_pack_with_base_fields_units_and_times(decoder: Decoder) -> None:
    pack = [
        {"bn": "urn:dev:mac:0024be:", "bt": T0 / 1000 - 10, "bu": "kPa",
         "n": "pressure_mpa", "v": 310},
        {"n": "pressure_mpa", "t": 5, "v": 0.3, "u": "MPa"},
        {"n": "pressure_mpa", "t": 5, "v": 3, "u": "bar"},  # same time: the later wins
    ]
    messages = decoder.decode(raw("estate/e1/w1/telemetry", pack))
    assert [(m.ts_ms, m.values) for m in messages] == [  # type: ignore[union-attr]
        (T0 - 10_000, {"pressure_mpa": pytest.approx(0.31)}),
        (T0 - 5_000, {"pressure_mpa": pytest.approx(0.3)}),
    ]


def test_senml_relative_time_and_several_metrics(decoder: Decoder) -> None:
    pack = [{"bn": "s1/", "n": "temp_c", "u": "Cel", "v": 21.5, "t": -2},
            {"n": "battery_pct", "u": "%EL", "v": 88, "t": -2}]
    [m] = decoder.decode(raw("estate/e1/s1/telemetry", pack))
    assert isinstance(m, Telemetry)
    assert (m.ts_ms, m.values) == (T0 - 2000, {"temp_c": 21.5, "battery_pct": 88.0})


def test_event_and_status(decoder: Decoder) -> None:
    [e] = decoder.decode(raw("estate/e1/s1/event",
                             {"ts": T0, "event": "smoke_alarm", "detail": {"obscuration": 0.4},
                              "seq": 3}))
    assert e == DeviceEvent("s1", "e1", e.device_type, T0, "smoke_alarm", {"obscuration": 0.4},
                            T0, 3)
    [s] = decoder.decode(raw("estate/e1/s1/status", b"offline"))
    assert isinstance(s, StatusChange) and s.presence is Presence.OFFLINE
    assert decoder.decode(raw("estate/e1/s1/status", b"")) == []  # retained status cleared


def test_clock_skew_rule(decoder: Decoder) -> None:
    ahead_ok = T0 + MAX_FUTURE_SKEW_MS
    [m] = decoder.decode(raw("estate/e1/w1/telemetry", {"ts": ahead_ok, "pressure_mpa": 0.3}))
    assert m.ts_ms == T0 and decoder.clock_corrected == 1  # type: ignore[union-attr]
    assert reason_of(decoder, raw("estate/e1/w1/telemetry",
                                  {"ts": ahead_ok + 1, "pressure_mpa": 0.3})) == "future_timestamp"
    week_ago = T0 - 7 * 86_400_000
    [old] = decoder.decode(raw("estate/e1/w1/telemetry", {"ts": week_ago, "pressure_mpa": 0.3}))
    assert old.ts_ms == week_ago  # type: ignore[union-attr]


W1 = "estate/e1/w1/telemetry"
REJECTIONS = [
    ("payload_too_large", W1, b"{" + b" " * 70_000 + b"}"),
    ("bad_topic", "estate/e1/w1", {"pressure_mpa": 0.3}),
    ("bad_topic", "estate/e1/w 1/telemetry", {"pressure_mpa": 0.3}),
    ("bad_topic", "estate/e1/w1/pictures", {"pressure_mpa": 0.3}),
    ("unknown_device", "estate/e1/nobody/telemetry", {"pressure_mpa": 0.3}),
    ("estate_mismatch", "estate/e2/w1/telemetry", {"pressure_mpa": 0.3}),
    ("not_json", W1, b"pressure=0.3"),
    ("not_json", W1, b"\xff\xfe\x00"),
    ("bad_shape", W1, 0.3),
    ("bad_shape", W1, {"values": [0.3]}),
    ("bad_shape", W1, {"values": {"pressure_mpa": 0.3}, "pressure_mpa": 0.3}),
    ("bad_shape", W1, {"ts": T0}),
    ("bad_shape", W1, []),
    ("unknown_metric", W1, {"smoke_db_m": 0.1}),
    ("bad_value", W1, {"pressure_mpa": "0.3"}),
    ("bad_value", W1, {"pressure_mpa": True}),
    ("bad_value", W1, [{"n": "pressure_mpa", "vs": "high"}]),
    ("non_finite", W1, b'{"pressure_mpa": NaN}'),
    ("non_finite", W1, b'{"pressure_mpa": -Infinity}'),
    ("non_finite", W1, b'{"pressure_mpa": 1e999}'),
    ("out_of_range", W1, {"pressure_mpa": 30}),
    ("out_of_range", W1, [{"n": "pressure_mpa", "u": "Pa", "v": 3e7}]),
    ("bad_unit", W1, [{"n": "pressure_mpa", "u": "psi", "v": 40}]),
    ("unknown_event", "estate/e1/w1/event", {"event": "smoke_alarm"}),
    ("unknown_event", "estate/e1/s1/event", {"event": "party"}),
    ("bad_shape", "estate/e1/s1/event", {"event": "tamper", "detail": "x"}),
    ("bad_timestamp", W1, {"ts": 1_767_225_600, "pressure_mpa": 0.3}),  # seconds
    ("bad_timestamp", W1, {"ts": "2026-01-01T08:00:00", "pressure_mpa": 0.3}),  # no offset
    ("bad_timestamp", W1, {"ts": "yesterday", "pressure_mpa": 0.3}),
    ("bad_timestamp", W1, {"ts": [1], "pressure_mpa": 0.3}),
    ("future_timestamp", W1, {"ts": T0 + 3_600_000, "pressure_mpa": 0.3}),
    ("bad_seq", W1, {"seq": -1, "pressure_mpa": 0.3}),
    ("bad_seq", W1, {"seq": 1.5, "pressure_mpa": 0.3}),
    ("bad_status", "estate/e1/w1/status", b"maybe"),
]


@pytest.mark.parametrize(("reason", "topic", "payload"), REJECTIONS,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(REJECTIONS)])
def test_rejections(decoder: Decoder, reason: str, topic: str, payload: Any) -> None:
    assert reason_of(decoder, raw(topic, payload)) == reason


def test_registry_swap_takes_effect(decoder: Decoder) -> None:
    decoder.registry = Registry([])
    assert reason_of(decoder, raw(W1, {"pressure_mpa": 0.3})) == "unknown_device"


@pytest.mark.parametrize("detail", [r'{"note":"\ud800"}', '{"n":NaN}',
                                    '{"n":' + "[" * 40 + "]" * 40 + "}"])
def test_a_smoke_alarm_with_a_malformed_detail_is_kept_without_it(decoder: Decoder,
                                                                  detail: str) -> None:
    payload = f'{{"ts":{T0},"seq":7,"event":"smoke_alarm","detail":{detail}}}'.encode()
    [event] = decoder.decode(RawMessage("estate/e1/s1/event", payload, T0))
    assert isinstance(event, DeviceEvent)
    assert (event.event, event.seq, dict(event.detail)) == ("smoke_alarm", 7, {})
    assert event.dropped_detail
