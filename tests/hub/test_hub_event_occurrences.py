"""Every accepted device event is one occurrence on the platform, however the gateway's batches
fall: the real gateway pipeline (decoder, arrival tracker, detection engine, on-disk outbox, alarm
sender) delivering over HTTP to the real platform app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hub_helpers import DEVICES, ESTATE, Server, free_port

from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.pipeline import IngestPipeline
from gongzhi.gateway.platform_client import PlatformClient, TokenSource
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.hub.app import create_app

DEVICE = "smk-young"
TOPIC = f"estate/{ESTATE}/{DEVICE}/event"

# How ten events fall into the gateway's batches.
SPLITS = {"one batch": [10], "one each": [1] * 10, "4+6": [4, 6], "3+3+4": [3, 3, 4],
          "pairs": [2] * 5, "9+1": [9, 1]}
# The events' device times: all in one millisecond, two per millisecond, or all apart.
TIMES = {"same ms": lambda i: 0, "pairs per ms": lambda i: i // 2, "apart": lambda i: i * 1000}


class Gateway:
    """The gateway's pipeline and alarm sender on their own stores, without MQTT."""

    def __init__(self, directory: Path, url: str, token: str, clock: ManualClock) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.stores = (TelemetryStore(directory / "telemetry.db"),
                       AlarmOutbox(directory / "outbox.db"), DeadLetterStore(directory / "dead.db"))
        for store in self.stores:
            store.open()
        telemetry, self.outbox, dead = self.stores
        registry = Registry(DEVICES)
        metrics = GatewayMetrics()
        self.pipeline = IngestPipeline(
            decoder=Decoder(registry), detector=DetectionEngine(registry), sink=telemetry,
            outbox=self.outbox, dead_letters=dead, states=DeviceStateTracker(), metrics=metrics,
            clock=clock, retry_s=0.001)
        self.client = PlatformClient(url, TokenSource(token, directory / "none.json"))
        self.sender = AlarmSender(self.outbox, self.client, metrics, clock)

    def handle(self, payloads: list[dict[str, Any]]) -> None:
        now = self.clock.now_ms()
        self.pipeline.handle([RawMessage(TOPIC, orjson.dumps(p), now) for p in payloads])

    def deliver(self) -> None:
        self.sender.run_once()
        assert self.outbox.pending() == []

    def close(self) -> None:
        self.client.close()
        for store in self.stores:
            store.close()


@pytest.fixture
def platform(settings: Settings, clock: ManualClock) -> Iterator[Server]:
    running = Server(create_app(settings, clock, background=False), free_port()).start()
    yield running
    running.stop()


def _occurrences(platform: Server, tokens: dict[str, str]) -> list[int]:
    answer = httpx.get(f"{platform.url}/api/tickets", params={"kind": "tamper"},
                       headers={"Authorization": f"Bearer {tokens['police_room']}"})
    assert answer.status_code == 200, answer.text
    return [t["occurrences"] for t in answer.json() if t["device_id"] == DEVICE]


def _batches(payloads: list[dict[str, Any]], split: list[int]) -> Iterator[list[dict[str, Any]]]:
    start = 0
    for size in split:
        yield payloads[start:start + size]
        start += size


@pytest.mark.parametrize("deliver_each", [True, False], ids=["send each batch", "send at end"])
@pytest.mark.parametrize("times", list(TIMES), ids=list(TIMES))
@pytest.mark.parametrize("split", list(SPLITS), ids=list(SPLITS))
def test_ten_tamper_events_are_ten_occurrences(
        platform: Server, tokens: dict[str, str], clock: ManualClock, tmp_path: Path,
        split: str, times: str, deliver_each: bool) -> None:
    base = clock.now_ms() - 60_000
    payloads = [{"ts": base + TIMES[times](i), "event": "tamper", "detail": {"n": 1}}
                for i in range(10)]
    gateway = Gateway(tmp_path / "gw", platform.url, tokens["gateway"], clock)
    try:
        for batch in _batches(payloads, SPLITS[split]):
            gateway.handle(batch)
            if deliver_each:
                gateway.deliver()
        gateway.deliver()
        assert _occurrences(platform, tokens) == [10]
    finally:
        gateway.close()


# (events with seq, the first run's batches, what the broker hands the restarted gateway)
RESTARTS = {
    "seq, tail redelivered after commit": (True, [6, 4], range(6, 10)),
    "seq, tail lost before commit": (True, [6], range(6, 10)),
    "no seq, whole batch redelivered": (False, [10], range(10)),
}


@pytest.mark.parametrize("case", list(RESTARTS), ids=list(RESTARTS))
def test_a_restarted_gateway_counts_redelivered_events_once(
        platform: Server, tokens: dict[str, str], clock: ManualClock, tmp_path: Path,
        case: str) -> None:
    """The broker redelivers what the gateway had not acknowledged when it stopped (all of an
    unacknowledged batch, in order): the same messages give the same alarm ids, and messages
    the first run never committed count now."""
    with_seq, first_batches, redelivered = RESTARTS[case]
    base = clock.now_ms() - 60_000
    payloads = [{"ts": base, "event": "tamper", **({"seq": i + 1} if with_seq else {})}
                for i in range(10)]
    first = Gateway(tmp_path / "gw", platform.url, tokens["gateway"], clock)
    try:
        for batch in _batches(payloads, first_batches):
            first.handle(batch)
        first.deliver()
    finally:
        first.close()
    restarted = Gateway(tmp_path / "gw-restarted", platform.url, tokens["gateway"], clock)
    try:
        restarted.handle([payloads[i] for i in redelivered])
        restarted.deliver()
    finally:
        restarted.close()
    assert _occurrences(platform, tokens) == [10]
