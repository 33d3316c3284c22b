"""A source's health: down when its transport says so, and down when it has been silent past
``stale_after`` (the clock is injected); a gateway's status report reads each source's health
once; acknowledgements go to the source that took each message, our own contract's to the
gateway's MQTT client, in arrival order."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import Registry
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.sources.base import SourceHealth
from gongzhi.gateway.sources.metrics import SourceMetrics
from gongzhi.gateway.sources.runtime import SourceSet
from gongzhi.gateway.sources.wiring import SourceWiring
from tests.gateway.gateway_support import gateway_settings


class FakeSource:
    def __init__(self) -> None:
        self.up = True
        self.acked: list[list[RawMessage]] = []
        self.health_reads = 0

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def translate(self, raw: RawMessage, registry: Registry) -> list[RawMessage]:
        return []

    def ack(self, messages: Sequence[RawMessage]) -> None:
        self.acked.append(list(messages))

    def health(self) -> SourceHealth:
        self.health_reads += 1
        return SourceHealth(self.up, "" if self.up else "not connected")


def test_a_silent_source_is_down_after_stale_after() -> None:
    clock = ManualClock()
    metrics = SourceMetrics(clock)
    source = FakeSource()
    metrics.track("lora", source.health, stale_after_ms=60_000)
    metrics.track("other", source.health, stale_after_ms=None)
    assert metrics.down() == {}
    clock.advance(61_000)  # nothing heard since the start
    assert metrics.down() == {"lora": "no message in 61 s since the start"}
    metrics.saw("lora", clock.now_ms())
    clock.advance(60_000)
    assert metrics.down() == {}
    clock.advance(1_000)
    assert metrics.down() == {"lora": "no message for 61 s"}
    metrics.saw("lora", clock.now_ms())
    assert metrics.down() == {}
    source.up = False
    assert metrics.down() == {"lora": "not connected", "other": "not connected"}
    text = metrics.render()
    assert 'gongzhi_gateway_source_up{source="lora"} 0.0' in text
    assert 'gongzhi_gateway_source_last_message_age_seconds{source="lora"} 0.0' in text
    assert 'gongzhi_gateway_source_messages_received_total{source="lora"} 2.0' in text
    assert 'gongzhi_gateway_source_messages_received_total{source="other"} 0.0' in text


def test_a_status_report_reads_each_source_once_and_names_the_one_down(tmp_path: Path) -> None:
    """The report to the platform and its problems for the wall come from one reading of each
    source's health (a transport's health may cost a lock or a round trip)."""
    lora, push = FakeSource(), FakeSource()
    lora.up = False
    clock = ManualClock()
    metrics = SourceMetrics(clock)
    for source_id, source in (("lora", lora), ("push", push)):
        metrics.track(source_id, source.health, stale_after_ms=None)
    service = GatewayService(gateway_settings(tmp_path, "mqtt://127.0.0.1:1",
                                              "http://127.0.0.1:1"), clock)
    service.sources = SourceWiring(SourceSet({"lora": lora, "push": push}, metrics))
    service.outbox.open()  # nothing else started: no connection is tried
    try:
        report = service.status_report()
        assert (lora.health_reads, push.health_reads) == (1, 1)
        assert report["problems"] == ["source lora is down: not connected"]
        health = service.health()
        assert (lora.health_reads, push.health_reads) == (2, 2)
        assert health["problems"] == ["source lora is down: not connected"]
        assert health["sources"]["lora"] == {"up": False, "reason": "not connected",
                                             "last_message_age_s": None}
        lora.up = True
        assert "problems" not in service.status_report()  # nothing to say: no field
        assert (lora.health_reads, push.health_reads) == (3, 3)
    finally:
        service.outbox.close()


def test_acknowledgements_go_to_the_source_that_took_each_message() -> None:
    lora, push = FakeSource(), FakeSource()
    sources = SourceSet({"lora": lora, "push": push}, SourceMetrics(ManualClock()))
    own: list[list[RawMessage]] = []
    batch = [RawMessage("estate/e1/s1/telemetry", b"{}", 1, mid=1),
             RawMessage("application/x/device/y/event/up", b"{}", 2, mid=7, source="lora"),
             RawMessage("ctwing", b"{}", 3, source="push"),
             RawMessage("estate/e1/s2/telemetry", b"{}", 4, mid=2),
             RawMessage("application/x/device/z/event/up", b"{}", 5, mid=8, source="lora"),
             RawMessage("gone", b"{}", 6, source="removed")]
    sources.ack(batch, own.append)
    assert [[m.mid for m in b] for b in own] == [[1, 2]]
    assert [[m.mid for m in b] for b in lora.acked] == [[7, 8]]
    assert [[m.topic for m in b] for b in push.acked] == [["ctwing"]]


def test_a_gateway_without_sources_imports_none_of_them() -> None:
    code = ("import sys; import gongzhi.gateway.service; "
            "print(sorted(m for m in sys.modules if m.startswith('gongzhi.gateway.sources')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
