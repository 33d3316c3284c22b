"""Gateway benchmark: one private Mosquitto (deploy/mosquitto/dev.conf), one stream.

1. Throughput: the stream (QoS 1, 3 to 5 points a message) is queued by the broker for two
   persistent sessions, a bare paho subscriber's and the gateway's; each then drains it alone.
   ``bare_paho_qos1_msgs_per_s`` and ``ingest_qos1_msgs_per_s`` (the whole pipeline: parse,
   validate, dedup, detect, store, acknowledge after commit) and their ratio.
2. Latency: a separate process publishes at 10,000 msg/s while tamper events carrying their
   publish time are mixed in; the platform stand-in records when each alarm arrives:
   ``alarm_latency_p50_ms`` / ``alarm_latency_p99_ms`` (publish to HTTP delivery).
3. ``ingest_lost_msgs``: messages published in 1 and 2 that the gateway did not account for.
4. ``gateway_bytes_per_device``: memory of the registry and of all per-device state (decoder,
   dedup, device states, detection) at 100,000 devices, measured with tracemalloc.

Prints one JSON object per line. Runs in about a minute.
"""

from __future__ import annotations

import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gongzhi.core.settings import load_settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry, write_registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.dedup import ArrivalTracker
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import RawMessage, Telemetry
from gongzhi.gateway.service import GatewayService

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import make_broker  # noqa: E402  (the tests' private-broker helper)

THROUGHPUT_MESSAGES = 60_000
LATENCY_RATE = 10_000
LATENCY_SECONDS = 6
LATENCY_EVENTS_PER_S = 40
DEVICES = 2_000
MEMORY_DEVICES = 100_000


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(orjson.dumps({"name": name, "value": value, "unit": unit, **context}).decode(),
          flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def records(count: int) -> list[DeviceRecord]:
    """Half electrical (5 metrics), half smoke detectors (3 metrics), 20 buildings per estate."""
    out = []
    for n in range(count):
        device_type = DeviceType.ELECTRICAL if n % 2 == 0 else DeviceType.SMOKE
        estate = f"e{n // 5000}"
        out.append(DeviceRecord(device_id=f"d{n}", type=device_type,
                                location=Location(estate, f"b{n % 20}", "1", str(n % 30),
                                                  str(n))))
    return out


def telemetry_payload(n: int, device: int, ts: int) -> bytes:
    if device % 2 == 0:
        values = {"residual_ma": 40 + n % 7, "cable_temp_c": 31.5, "current_a": 6.2 + n % 3,
                  "voltage_v": 221.0, "power_w": 1350.0}
    else:
        values = {"smoke_db_m": 0.01, "temp_c": 22.5, "battery_pct": 87}
    return orjson.dumps({"ts": ts, "seq": n, "values": values})


def stream(count: int, t0: int) -> Iterator[tuple[str, bytes]]:
    for n in range(count):
        device = n % DEVICES
        yield f"estate/e0/d{device}/telemetry", telemetry_payload(n // DEVICES, device, t0 + n)


def publisher_client(port: int, client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(port: int, count: int, t0: int) -> None:
    """Publish the throughput stream as fast as the broker takes it (separate process)."""
    client = publisher_client(port, "bench-stream")
    infos = []
    for topic, payload in stream(count, t0):
        infos.append(client.publish(topic, payload, qos=1))
        if len(infos) > 20_000:  # packet ids are 16 bits: bound what is outstanding
            infos.pop(0).wait_for_publish(timeout=60)
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def publish_paced(port: int, rate: int, seconds: int, events_per_s: int, t0: int) -> None:
    """Publish telemetry at ``rate`` msg/s with tamper events carrying their publish time."""
    client = publisher_client(port, "bench-paced")
    slice_s = 0.01
    per_slice = int(rate * slice_s)
    event_every = max(1, rate // events_per_s)
    start = time.monotonic()
    infos = []
    n = 0
    for k in range(int(seconds / slice_s)):
        for _ in range(per_slice):
            device = n % DEVICES
            if n % event_every == 0:
                smoke = device | 1  # odd devices are smoke detectors
                sent = now_ms()
                payload = orjson.dumps({"ts": sent, "seq": 10_000_000 + n, "event": "tamper",
                                        "detail": {"sent_ms": sent}})
                infos.append(client.publish(f"estate/e0/d{smoke}/event", payload, qos=1))
            else:
                infos.append(client.publish(f"estate/e0/d{device}/telemetry",
                                            telemetry_payload(1000 + n, device, t0 + n), qos=1))
            n += 1
        pause = start + (k + 1) * slice_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def run_process(target: Any, *args: Any) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join(timeout=120)
    if proc.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed ({proc.exitcode})")


class BareSubscriber:
    def __init__(self, port: int) -> None:
        self.count = 0
        self.first = self.last = 0.0
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare",
                                  protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.port = port

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.count += 1
        self.last = time.perf_counter()
        if self.count == 1:
            self.first = self.last

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        self.client.loop_start()

    def register(self) -> None:
        self.connect()
        self.client.subscribe("estate/+/+/+", qos=1)[1]
        time.sleep(0.3)
        self.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class AlarmSink:
    """The platform's alarm endpoint, recording publish-to-delivery latency."""

    def __init__(self) -> None:
        self.latencies_ms: list[int] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sent = (body.get("evidence") or {}).get("detail", {}).get("sent_ms")
                if self.path == "/api/alarms" and sent is not None:
                    sink.latencies_ms.append(now_ms() - int(sent))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def accounted(gw: GatewayService) -> float:
    m = gw.metrics
    return (m.total("messages_processed_total") + m.total("messages_rejected_total")
            + m.total("duplicates_total"))


def wait_for(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # poll gently: the gateway under test shares the GIL
    return False


def bench_pipeline(work: Path) -> None:
    broker = make_broker(work)
    broker.start()
    sink = AlarmSink()
    sink.thread.start()
    gw: GatewayService | None = None
    try:
        data = work / "data"
        write_registry(data / "registry.csv", records(DEVICES))
        settings = load_settings(environ={}, data_dir=data, mqtt_url=broker.url,
                                 platform_url=sink.url, gateway_token="bench",
                                 gateway_http_port=0, log_level="WARNING")
        bare = BareSubscriber(broker.port)
        bare.register()
        gw = GatewayService(settings)
        gw.start()
        gw.wait_connected(10)
        gw.stop()

        t0 = now_ms() - 3_600_000
        run_process(publish_all, broker.port, THROUGHPUT_MESSAGES, t0)

        bare.connect()
        wait_for(lambda: bare.count >= THROUGHPUT_MESSAGES, 60)
        bare_rate = THROUGHPUT_MESSAGES / (bare.last - bare.first)
        bare.client.unsubscribe("estate/+/+/+")
        bare.close()

        gw = GatewayService(settings)
        gw.start()
        wait_for(lambda: gw.metrics.total("messages_received_total") > 0, 30)  # type: ignore
        start = time.perf_counter()
        wait_for(lambda: accounted(gw) >= THROUGHPUT_MESSAGES, 120)  # type: ignore
        ingest_rate = THROUGHPUT_MESSAGES / (time.perf_counter() - start)
        context = {"messages": THROUGHPUT_MESSAGES, "devices": DEVICES, "points_per_msg": "3-5"}
        emit("ingest_qos1_msgs_per_s", round(ingest_rate), "msg/s", **context)
        emit("bare_paho_qos1_msgs_per_s", round(bare_rate), "msg/s", **context)
        emit("ingest_vs_bare_paho", round(ingest_rate / bare_rate, 3), "ratio", **context)

        run_process(publish_paced, broker.port, LATENCY_RATE, LATENCY_SECONDS,
                    LATENCY_EVENTS_PER_S, now_ms() - 600_000)
        published = THROUGHPUT_MESSAGES + LATENCY_RATE * LATENCY_SECONDS
        events = LATENCY_EVENTS_PER_S * LATENCY_SECONDS
        wait_for(lambda: accounted(gw) >= published and len(sink.latencies_ms) >= events, 30)
        latencies = sorted(sink.latencies_ms)
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
        context = {"rate_msgs_per_s": LATENCY_RATE, "alarms": len(latencies)}
        emit("alarm_latency_p50_ms", round(quantiles[49], 1), "ms", **context)
        emit("alarm_latency_p99_ms", round(quantiles[98], 1), "ms", **context)
        emit("ingest_lost_msgs", published - accounted(gw), "msgs", published=published,
             alarms_missing=events - len(latencies))
    finally:
        if gw is not None:
            gw.stop()
        sink.close()
        broker.stop()


def bench_memory() -> None:
    """Registry, decoder, dedup, device states and detection state for 100,000 devices."""
    t0 = now_ms()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = Registry(records(MEMORY_DEVICES))
    decoder = Decoder(registry)
    arrivals = ArrivalTracker()
    states = DeviceStateTracker()
    engine = DetectionEngine(registry)
    for start in range(0, MEMORY_DEVICES, 1000):
        batch = []
        for device in range(start, start + 1000):
            raw = RawMessage(f"estate/e{device // 5000}/d{device}/telemetry",
                             telemetry_payload(1, device, t0), t0)
            [message] = decoder.decode(raw)
            assert isinstance(message, Telemetry)
            arrivals.is_duplicate(message.device_id, message.seq, message.ts_ms)
            batch.append(message)
        states.observe(batch)
        engine.process(batch)
        del batch, raw, message
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    emit("gateway_bytes_per_device", round(used / MEMORY_DEVICES), "bytes",
         devices=MEMORY_DEVICES)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gongzhi-bench-gateway-"))
    try:
        bench_pipeline(work)
        bench_memory()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
