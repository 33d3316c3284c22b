"""Helpers for the simulator tests: run the engine on a scenario written inline, decode what it
produced, and a plain paho subscriber that records everything a broker delivers."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.core.clock import ManualClock
from gongzhi.core.config_kit import parse_yaml
from gongzhi.simulators.engine import SimulationEngine
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.layout import EstateLayout, build_layout
from gongzhi.simulators.outgoing import Link, Message, Outgoing
from gongzhi.simulators.scenario import Scenario, parse_scenario

MIDNIGHT_CST = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00
_LAYOUTS: dict[tuple[str, int], EstateLayout] = {}


def layout_of(estate: str = "small", seed: int = 0) -> EstateLayout:
    key = (estate, seed)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = build_layout(load_estate_file(estate), seed)
    return _LAYOUTS[key]


def scenario_of(text: str) -> Scenario:
    return parse_scenario(parse_yaml(text, "<test>"), "test")


@dataclass
class Run:
    engine: SimulationEngine
    out: list[Outgoing]
    truth: list[TruthRecord]
    start_ms: int

    @property
    def messages(self) -> list[Message]:
        return [m for m in self.out if isinstance(m, Message)]

    @property
    def links(self) -> list[Link]:
        return [m for m in self.out if isinstance(m, Link)]

    def device_id(self, index: int) -> str:
        return self.engine.records[index].device_id

    def telemetry(self, device_id: str) -> list[dict[str, Any]]:
        """The device's telemetry payloads, in publishing order."""
        suffix = f"/{device_id}/telemetry"
        return [orjson.loads(m.payload) for m in self.messages if m.topic.endswith(suffix)]

    def series(self, device_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        rows = sorted((p["ts"], p["values"][metric]) for p in self.telemetry(device_id))
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.array([r[1] for r in rows], dtype=np.float64))

    def events(self, device_id: str) -> list[dict[str, Any]]:
        suffix = f"/{device_id}/event"
        return [orjson.loads(m.payload) for m in self.messages if m.topic.endswith(suffix)]

    def statuses(self, device_id: str) -> list[bytes]:
        suffix = f"/{device_id}/status"
        return [m.payload for m in self.messages if m.topic.endswith(suffix)]


def run(scenario: str | Scenario, duration_ms: int, *, estate: str = "small", seed: int = 0,
        start_ms: int = MIDNIGHT_CST + 10 * 3_600_000, wall_ms: int | None = None,
        slices: Iterable[int] = ()) -> Run:
    sc = scenario_of(scenario) if isinstance(scenario, str) else scenario
    clock = ManualClock(wall_ms if wall_ms is not None else start_ms + duration_ms)
    engine = SimulationEngine(layout_of(estate, seed), sc, start_ms, seed, clock)
    out: list[Outgoing] = []
    for t in slices:
        out += engine.advance(t)
    out += engine.advance(start_ms + duration_ms)
    out += engine.finish()
    return Run(engine, out, engine.take_truth(), start_ms)


def longest_run_ms(ts: np.ndarray, condition: np.ndarray) -> int:
    """Longest time the condition held over consecutive samples (first to last sample)."""
    best = 0
    since: int | None = None
    for t, ok in zip(ts.tolist(), condition.tolist(), strict=True):
        if ok:
            since = t if since is None else since
            best = max(best, t - since)
        else:
            since = None
    return best


def max_drop_within(ts: np.ndarray, values: np.ndarray, window_ms: int) -> float:
    """The largest fall from an earlier to a later sample at most ``window_ms`` apart."""
    if len(ts) < 2:
        return 0.0
    first = np.searchsorted(ts, ts - window_ms)  # earliest sample inside each window
    index = np.arange(len(ts))
    best = 0.0
    for lag in range(1, int((index - first).max()) + 1):
        later = index[lag:]
        inside = later - lag >= first[later]
        if inside.any():
            best = max(best, float((values[later - lag] - values[later])[inside].max()))
    return best


@dataclass
class Capture:
    """A plain subscriber: every message the broker delivers on ``estate/#``, in order."""

    url_host: str
    port: int
    received: list[tuple[str, bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: mqtt.Client | None = None

    def start(self) -> Capture:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-capture",
                             protocol=mqtt.MQTTv311)
        subscribed = threading.Event()

        def on_connect(c: mqtt.Client, *_: object) -> None:
            c.subscribe("estate/#", qos=1)

        def on_subscribe(*_: object) -> None:
            subscribed.set()

        def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.received.append((msg.topic, bytes(msg.payload)))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.max_queued_messages_set(0)
        client.connect(self.url_host, self.port)
        client.loop_start()
        self._client = client
        if not subscribed.wait(10):
            raise TimeoutError("the capture subscriber could not subscribe")
        return self

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.02)
        with self._lock:
            return list(self.received)

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


def by_topic(messages: Iterable[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for topic, payload in messages:
        out[topic].append(payload)
    return out
