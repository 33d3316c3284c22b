"""Gateway benchmark: one private Mosquitto (deploy/mosquitto/dev.conf), one stream.

1. Throughput: the stream (QoS 1, 3 to 5 points a message) is queued by the broker for two
   persistent sessions, a bare paho subscriber's and the gateway's; each then drains it alone.
   ``bare_paho_qos1_msgs_per_s`` and ``ingest_qos1_msgs_per_s`` (the whole pipeline: parse,
   validate, dedup, detect, store, acknowledge after commit) and their ratio.
2. Latency: a separate process publishes telemetry at 10,000 msg/s (``bench/loadgen.py``, so
   that the load generator leaves the gateway its CPU) while another publishes
   tamper events carrying their publish time; the platform stand-in records when each alarm
   arrives: ``alarm_latency_p50_ms`` / ``alarm_latency_p99_ms`` (publish to HTTP delivery). The
   rate the publisher really achieved is given beside them.
3. ``ingest_lost_msgs``: messages published in 1 and 2 that the gateway did not account for.
4. ``gateway_bytes_per_device``: resident memory added by the registry and all per-device state
   (dedup, device states, detection) at 100,000 devices that have each sent a message.

Prints one JSON object per line. Runs in about a minute.
"""

from __future__ import annotations

import gc
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
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
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.service import GatewayService

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import (  # noqa: E402  (the tests' private-service helpers)
    free_port,
    make_broker,
    wait_for_port,
)

THROUGHPUT_MESSAGES = 25_000
LATENCY_RATE = 10_000
LATENCY_SECONDS = 10
LATENCY_EVENTS_PER_S = 40
ROUNDS = 2
PUBLISHERS = 1  # the lean load generator (bench/loadgen.py) reaches 10,000 msg/s alone
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
    client.max_inflight_messages_set(0)  # unlimited: paho rescans its whole queue per ack otherwise
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


def publish_paced(port: int, rate: int, seconds: int, t0: int, share: int, shares: int,
                  elapsed: Any) -> None:
    """Publish telemetry of the devices of one share (device number modulo ``shares``) at
    ``rate`` msg/s from the lean load generator (``elapsed`` gets the time it took)."""
    from bench.loadgen import RawPublisher

    def message(n: int) -> tuple[str, bytes]:
        device = (n * shares + share) % DEVICES
        return f"estate/e0/d{device}/telemetry", telemetry_payload(1000 + n, device, t0 + n)

    publisher = RawPublisher(port, f"bench-paced-{share}")
    try:
        took = publisher.publish_paced(message, rate, seconds)
    finally:
        publisher.close()
    with elapsed.get_lock():
        elapsed.value = max(elapsed.value, took)


def publish_events(port: int, per_s: int, seconds: int) -> None:
    """Tamper events carrying their publish time, from a client of their own (so they do not
    queue behind the bulk telemetry in a publisher's buffer)."""
    client = publisher_client(port, "bench-events")
    start = time.monotonic()
    for n in range(per_s * seconds):
        smoke = (2 * n + 1) % DEVICES  # odd devices are smoke detectors
        sent = now_ms()
        payload = orjson.dumps({"ts": sent, "seq": 10_000_000 + n, "event": "tamper",
                                "detail": {"sent_ms": sent}})
        client.publish(f"estate/e0/d{smoke}/event", payload, qos=1).wait_for_publish(10)
        pause = start + (n + 1) / per_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    client.disconnect()
    client.loop_stop()


def run_processes(*jobs: tuple[Any, ...]) -> None:
    """Run ``(target, *args)`` jobs in processes of their own, together; wait for all."""
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=job[0], args=job[1:]) for job in jobs]
    for proc in procs:
        proc.start()
    for proc, job in zip(procs, jobs, strict=True):
        proc.join(timeout=120)
        if proc.exitcode != 0:
            raise RuntimeError(f"{job[0].__name__} failed ({proc.exitcode})")


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


def serve_alarms(port: int, latencies: Any, stop: Any) -> None:
    """The platform's alarm endpoint, in a process of its own as the platform would be:
    puts the publish-to-delivery latency of every alarm that carries its publish time."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sent = (body.get("evidence") or {}).get("detail", {}).get("sent_ms")
            if self.path == "/api/alarms" and sent is not None:
                latencies.put(now_ms() - int(sent))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stop.wait()
    server.shutdown()
    server.server_close()


class AlarmSink:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self._latencies = context.Queue()
        self._stop = context.Event()
        self._proc = context.Process(target=serve_alarms,
                                     args=(self.port, self._latencies, self._stop))
        self.latencies_ms: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._proc.start()
        wait_for_port(self.port)

    def collect(self) -> int:
        """Take the latencies recorded so far; returns how many there are in all."""
        while not self._latencies.empty():
            self.latencies_ms.append(self._latencies.get())
        return len(self.latencies_ms)

    def close(self) -> None:
        self._stop.set()
        self._proc.join(timeout=10)


def accounted(gw: GatewayService) -> float:
    m = gw.metrics
    return (m.total("messages_processed_total") + m.total("messages_rejected_total")
            + m.total("duplicates_total"))


def wait_for(predicate: Any, timeout_s: float, poll_s: float = 0.05) -> bool:
    """Poll gently by default: the gateway under test shares this process's GIL."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False


def bench_pipeline(work: Path) -> None:
    broker = make_broker(work)
    broker.start()
    sink = AlarmSink()
    sink.start()
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
        bare_rates, ingest_rates = [], []
        earlier = 0.0  # messages accounted for by the gateway instances already stopped
        for round_ in range(ROUNDS):  # the best of each: other load on the machine comes and goes
            t0 = now_ms() - 3_600_000 + round_ * THROUGHPUT_MESSAGES
            run_processes((publish_all, broker.port, THROUGHPUT_MESSAGES, t0))
            bare.count = 0
            bare.connect()
            wait_for(lambda: bare.count >= THROUGHPUT_MESSAGES, 60)
            bare_rates.append(THROUGHPUT_MESSAGES / (bare.last - bare.first))
            if round_ == ROUNDS - 1:
                bare.client.unsubscribe("estate/+/+/+")
            bare.close()
            gw = GatewayService(settings)
            gw.start()
            wait_for(lambda g=gw: accounted(g) > 0, 30, poll_s=0.002)
            start = time.perf_counter()
            wait_for(lambda g=gw: accounted(g) >= THROUGHPUT_MESSAGES, 120)
            ingest_rates.append(THROUGHPUT_MESSAGES / (time.perf_counter() - start))
            if round_ < ROUNDS - 1:
                gw.stop()
                earlier += accounted(gw)
        context = {"messages": THROUGHPUT_MESSAGES, "devices": DEVICES, "points_per_msg": "3-5",
                   "best_of": ROUNDS}
        emit("ingest_qos1_msgs_per_s", round(max(ingest_rates)), "msg/s", **context)
        emit("bare_paho_qos1_msgs_per_s", round(max(bare_rates)), "msg/s", **context)
        emit("ingest_vs_bare_paho", round(max(ingest_rates) / max(bare_rates), 3), "ratio",
             **context)

        elapsed = multiprocessing.get_context("spawn").Value("d", 0.0)
        t0 = now_ms() - 600_000
        run_processes(*[(publish_paced, broker.port, LATENCY_RATE // PUBLISHERS, LATENCY_SECONDS,
                         t0, share, PUBLISHERS, elapsed) for share in range(PUBLISHERS)],
                      (publish_events, broker.port, LATENCY_EVENTS_PER_S, LATENCY_SECONDS))
        bulk = LATENCY_RATE * LATENCY_SECONDS
        events = LATENCY_EVENTS_PER_S * LATENCY_SECONDS
        published = ROUNDS * THROUGHPUT_MESSAGES + bulk + events
        wait_for(lambda: earlier + accounted(gw) >= published, 30)
        wait_for(lambda: sink.collect() >= events, 10)
        latencies = sorted(sink.latencies_ms)
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
        context = {"rate_msgs_per_s": LATENCY_RATE,
                   "achieved_rate_msgs_per_s": round(bulk / max(elapsed.value, 1e-9)),
                   "alarms": len(latencies)}
        emit("alarm_latency_p50_ms", round(quantiles[49], 1), "ms", **context)
        emit("alarm_latency_p99_ms", round(quantiles[98], 1), "ms", **context)
        emit("ingest_lost_msgs", published - earlier - accounted(gw), "msgs",
             published=published,
             alarms_missing=events - len(latencies))
    finally:
        if gw is not None:
            gw.stop()
        sink.close()
        broker.stop()


def resident_bytes() -> int:
    """The process's resident memory (what an operator sees), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def bench_memory() -> None:
    """Registry, dedup, device states and detection state for 100,000 devices, each having sent
    one message (the decoder keeps no per-device state; messages are built directly)."""
    t0 = now_ms()
    gc.collect()
    before = resident_bytes()
    registry = Registry(records(MEMORY_DEVICES))
    decoder = Decoder(registry)
    arrivals = ArrivalTracker()
    states = DeviceStateTracker()
    engine = DetectionEngine(registry)
    values = {DeviceType.ELECTRICAL: {"residual_ma": 40.0, "cable_temp_c": 31.5, "current_a": 6.2,
                                      "voltage_v": 221.0, "power_w": 1350.0},
              DeviceType.SMOKE: {"smoke_db_m": 0.01, "temp_c": 22.5, "battery_pct": 87.0}}
    for start in range(0, MEMORY_DEVICES, 5000):
        batch = []
        for record in list(registry)[start:start + 5000]:
            message = Telemetry(record.device_id, record.estate_id, record.type, t0,
                                dict(values[record.type]), t0, seq=1)
            arrivals.is_duplicate(message.device_id, message.seq, message.ts_ms)
            batch.append(message)
        states.observe(batch)
        engine.process(batch)
    del batch, message
    gc.collect()
    used = resident_bytes() - before
    assert decoder.registry is registry
    emit("gateway_bytes_per_device", round(used / MEMORY_DEVICES), "bytes",
         devices=MEMORY_DEVICES)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gongzhi-bench-gateway-"))
    try:
        bench_memory()  # first: a fresh process, so freed memory cannot hide what is used
        bench_pipeline(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
