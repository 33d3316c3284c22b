"""The decoder with sources: what a translator makes is validated exactly as a device's own
contract message (the shortcut for ``native_*`` messages gives the same result as the payload),
and a part refused beside a kept one is a dead letter of its own."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.sources.base import (
    NativeMessage,
    SourceHealth,
    native_event,
    native_status,
    native_telemetry,
)
from gongzhi.gateway.sources.decoding import SourceDecoder
from gongzhi.gateway.sources.metrics import SourceMetrics
from gongzhi.gateway.sources.runtime import SourceSet

SMOKE = DeviceRecord("s1", DeviceType.SMOKE, Location("e1", "b1", "1", "3", "301"))
REGISTRY = Registry([SMOKE])
OUTSIDE = RawMessage("vendor/s1", b'{"outside": true}', 1_767_225_600_000, source="vendor")


class Scripted:
    """A source whose translation is given by the test."""

    def __init__(self, natives: list[RawMessage]) -> None:
        self.natives = natives

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def translate(self, raw: RawMessage, registry: Registry) -> list[RawMessage]:
        return self.natives

    def ack(self, messages: Sequence[RawMessage]) -> None:
        pass

    def health(self) -> SourceHealth:
        return SourceHealth(True)


def decoder(natives: list[RawMessage]) -> SourceDecoder:
    return SourceDecoder(REGISTRY, SourceSet({"vendor": Scripted(natives)},
                                             SourceMetrics(ManualClock())))


@pytest.mark.parametrize("native", [
    native_telemetry(OUTSIDE, SMOKE, {"smoke_db_m": 0.05, "battery_pct": 90}, 1_767_225_500_000),
    native_telemetry(OUTSIDE, SMOKE, {"temp_c": 21}, "2026-01-01T00:00:00.5+00:00", 7),
    native_event(OUTSIDE, SMOKE, "smoke_alarm", {"field": "$.a", "value": 2}),
    native_status(OUTSIDE, SMOKE, online=False),
])
def test_the_shortcut_decodes_as_the_payload_does(native: RawMessage) -> None:
    plain = RawMessage(native.topic, native.payload, native.received_ms)
    assert decoder([native]).decode(OUTSIDE) == Decoder(REGISTRY).decode(plain)


def test_every_refusal_of_the_payload_is_a_refusal_of_the_shortcut() -> None:
    for native in (native_telemetry(OUTSIDE, SMOKE, {"smoke_db_m": 99.0}),
                   native_telemetry(OUTSIDE, SMOKE, {"pressure_mpa": 0.3}),
                   native_event(OUTSIDE, SMOKE, "arc_fault"),
                   native_telemetry(OUTSIDE, SMOKE, {"temp_c": 20}, 10**17)):
        assert isinstance(native, NativeMessage)
        with pytest.raises(RejectedMessage) as fast:
            decoder([native]).decode(OUTSIDE)
        with pytest.raises(RejectedMessage) as slow:
            Decoder(REGISTRY).decode(RawMessage(native.topic, native.payload,
                                                OUTSIDE.received_ms))
        assert fast.value.reason == slow.value.reason


def test_a_refused_part_is_a_dead_letter_and_the_rest_is_kept() -> None:
    d = decoder([native_telemetry(OUTSIDE, SMOKE, {"temp_c": 900.0}),
                 native_event(OUTSIDE, SMOKE, "smoke_alarm")])
    (kept,) = d.decode(OUTSIDE)
    assert getattr(kept, "event", None) == "smoke_alarm"
    (letter,) = d.take_rejected()
    assert (letter.topic, letter.payload, letter.reason) == (OUTSIDE.topic, OUTSIDE.payload,
                                                             "out_of_range")
    assert "part estate/e1/s1/telemetry refused, the rest kept" in letter.detail
    assert d.take_rejected() == []
