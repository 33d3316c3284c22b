"""Gateway benchmark: one private Mosquitto (deploy/mosquitto/dev.conf), a real `gongzhi platform`
process, and the gateway as the `gongzhi gateway` command runs it, in processes of its own.

1. Throughput. A stream of 60,000 QoS 1 messages (3 to 5 points each, 2,000 devices in 100
   estates) is queued by the broker for three persistent sessions: a stock paho subscriber's
   (``bench/bare_paho.py``, a process that imports nothing of Gongzhi), the gateway with one
   worker per core (``--workers``) and the gateway as one process. Each then drains it alone,
   first message to last; three rounds. ``bare_paho_qos1_msgs_per_s``,
   ``ingest_qos1_msgs_per_s`` (the workers: parse, validate, dedup, detect, store, acknowledge
   after commit), ``ingest_one_process_qos1_msgs_per_s`` and ``ingest_vs_bare_paho`` (per
   round, workers against bare paho): each the median of the rounds, with min, max and every
   run in the line. The gateway's count is read from its status port every 50 ms.
2. End to end. While ``bench/loadgen.py`` (a process of its own) publishes telemetry at 10,000
   msg/s, smoke alarms from detectors in buildings of their own are published 10 a second; the
   alarm wall, signed in in headless chromium, records when each new ticket arrives by server
   push (its count of critical tickets above the queue, drawn with the rows):
   ``e2e_alarm_to_wall_p50_ms`` / ``_p99_ms`` (MQTT publish to the ticket on the wall; the k-th
   ticket to arrive is matched to the k-th alarm published), each the median of three rounds of
   10 s (100 alarms each).
3. ``ingest_lost_msgs``: messages published to the workers' sessions that they did not account
   for (processed, refused, duplicates).
4. ``gateway_bytes_per_device``: resident memory added by the registry and all per-device state
   at 100,000 devices that have each sent a message.

The machine's load average is printed beside the figures. ``GATEWAY_BENCH_SUBSCRIBE=all`` runs
the workers with plain partitions (each receives everything and skips the others' messages).
Prints one JSON object per line. Runs in about three minutes.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry, write_registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.dedup import ArrivalTracker
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import Telemetry
from gongzhi.hub.tokens import new_tokens, write_tokens

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import (  # noqa: E402  (the tests' private-service helpers)
    free_port,
    make_broker,
    wait_for_port,
)

THROUGHPUT_MESSAGES = 60_000
ROUNDS = 3
LOAD_RATE = 10_000
LOAD_SECONDS = 10
ALARMS_PER_S = 10
DEVICES = 2_000
DEVICES_PER_ESTATE = 20
MEMORY_DEVICES = 100_000
POLL_S = 0.05
WORKERS = len(os.sched_getaffinity(0))
# Skipped messages are another worker's (plain partitions): each is accounted for by its owner.
ACCOUNTED = ("messages_processed_total", "messages_rejected_total", "duplicates_total")


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(orjson.dumps({"name": name, "value": value, "unit": unit, **context}).decode(),
          flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def machine() -> dict[str, Any]:
    return {"load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


def spread(values: list[float], digits: int = 0) -> dict[str, Any]:
    return {"min": round(min(values), digits), "max": round(max(values), digits),
            "runs": [round(v, digits) for v in values]}


def records(count: int) -> list[DeviceRecord]:
    """Half electrical (5 metrics), half smoke detectors (3 metrics); estates of 20 devices;
    each building one electrical monitor and one smoke detector (a smoke alarm stays one
    detector's: no fire fusion)."""
    out = []
    for n in range(count):
        device_type = DeviceType.ELECTRICAL if n % 2 == 0 else DeviceType.SMOKE
        estate = f"e{n // DEVICES_PER_ESTATE}"
        building = f"b{(n % DEVICES_PER_ESTATE) // 2}"
        out.append(DeviceRecord(device_id=f"d{n}", type=device_type,
                                location=Location(estate, building, "1", "3", str(n))))
    return out


def topic(device: int, channel: str = "telemetry") -> str:
    return f"estate/e{device // DEVICES_PER_ESTATE}/d{device}/{channel}"


def telemetry_payload(seq: int, device: int, ts: int) -> bytes:
    if device % 2 == 0:
        values = {"residual_ma": 10 + seq % 7, "cable_temp_c": 31.5, "current_a": 6.2 + seq % 3,
                  "voltage_v": 221.0, "power_w": 1350.0}
    else:
        values = {"smoke_db_m": 0.01, "temp_c": 22.5, "battery_pct": 87}
    return orjson.dumps({"ts": ts, "seq": seq, "values": values})


def stream(count: int, t0: int, first_seq: int) -> Iterator[tuple[str, bytes]]:
    for n in range(count):
        device = n % DEVICES
        yield topic(device), telemetry_payload(first_seq + n // DEVICES, device, t0 + n)


def publish_all(port: int, count: int, t0: int, first_seq: int) -> None:
    """Publish the throughput stream as fast as the broker takes it (separate process)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-stream",
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(0)  # unlimited: paho rescans its whole queue per ack otherwise
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for name, payload in stream(count, t0, first_seq):
        infos.append(client.publish(name, payload, qos=1))
        if len(infos) > 20_000:  # packet ids are 16 bits: bound what is outstanding
            infos.pop(0).wait_for_publish(timeout=60)
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def publish_load(port: int, rate: int, seconds: int, t0: int, first_seq: int,
                 elapsed: Any) -> None:
    """Telemetry of every device at ``rate`` msg/s from the lean load generator."""
    from bench.loadgen import RawPublisher

    def message(n: int) -> tuple[str, bytes]:
        device = n % DEVICES
        return topic(device), telemetry_payload(first_seq + n // DEVICES, device, t0 + n)

    publisher = RawPublisher(port, "bench-load")
    try:
        elapsed.value = publisher.publish_paced(message, rate, seconds)
    finally:
        publisher.close()


def run_process(target: Any, *args: Any) -> None:
    context = multiprocessing.get_context("spawn")
    proc = context.Process(target=target, args=args)
    proc.start()
    proc.join(timeout=180)
    if proc.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed ({proc.exitcode})")


def bare_paho(action: str, port: int, *args: int) -> dict[str, Any]:
    """The stock paho baseline, a process that imports nothing of ours."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bare_paho.py"), action,
                           str(port), *map(str, args)], capture_output=True, text=True,
                          timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bare_paho.py {action} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else {}


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate: Any, timeout_s: float, poll_s: float = POLL_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False


@dataclass
class Service:
    """A ``gongzhi`` command in a process of its own; stopped with SIGTERM."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gongzhi.core.cli", *self.args],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"gongzhi {self.args[0]} exited; see {self.log}:\n"
                               + self.log.read_text()[-3000:])


@dataclass
class Site:
    work: Path
    broker_port: int
    platform_port: int
    tokens: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        env.update(GONGZHI_MQTT_URL=f"mqtt://127.0.0.1:{self.broker_port}",
                   GONGZHI_REGISTRY=str(self.work / "registry.csv"),
                   GONGZHI_TOKENS_FILE=str(self.work / "tokens.json"),
                   GONGZHI_LOG_LEVEL="WARNING", **extra)
        return env

    def platform(self) -> Service:
        env = self.env(GONGZHI_DATA_DIR=str(self.work / "platform"),
                       GONGZHI_HTTP_PORT=str(self.platform_port))
        return Service(["platform"], env, self.work / "platform.log")

    def gateway(self, name: str, workers: int, subscribe: str | None = None) -> Gateway:
        port = free_port()
        extra = {"GONGZHI_DATA_DIR": str(self.work / name), "GONGZHI_GATEWAY_HTTP_PORT": str(port),
                 "GONGZHI_GATEWAY_WORKERS": str(workers),
                 "GONGZHI_PLATFORM_URL": f"http://127.0.0.1:{self.platform_port}"}
        if subscribe:
            extra["GONGZHI_GATEWAY_SUBSCRIBE"] = subscribe
        return Gateway(["gateway"], self.env(**extra), self.work / f"{name}.log", port=port)


@dataclass
class Gateway(Service):
    port: int = 0

    def accounted(self) -> float | None:
        """Messages accounted for (processed, refused, duplicates), from /metrics."""
        try:
            status, body = http_get(f"http://127.0.0.1:{self.port}/metrics")
        except OSError:
            return None
        if status != 200:
            return None
        total = 0.0
        for line in body.decode().splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name.removeprefix("gongzhi_gateway_") in ACCOUNTED:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def ready(self) -> bool:
        try:
            return http_get(f"http://127.0.0.1:{self.port}/readyz")[0] == 200
        except OSError:
            return False

    def register(self) -> None:
        """Start, wait until subscribed (the sessions exist), stop."""
        self.start()
        try:
            if not wait_for(self.ready, 90):
                self.check_alive()
                raise RuntimeError(f"gateway not ready; see {self.log}")
        finally:
            self.stop()

    def drain(self, count: int) -> tuple[float, float]:
        """Start on a queued backlog of ``count``; returns (msg/s from the first message
        accounted to the last, messages accounted)."""
        self.start()
        try:
            first: tuple[float, float] | None = None
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                seen = self.accounted()
                at = time.perf_counter()
                if seen:
                    if first is None:
                        first = (at, seen)
                    if seen >= count:
                        if at == first[0]:
                            raise RuntimeError("drained before the first look: lower POLL_S")
                        return (seen - first[1]) / (at - first[0]), seen
                elif self.proc is not None and self.proc.poll() is not None:
                    self.check_alive()
                time.sleep(POLL_S)
            raise RuntimeError(f"gateway drained only {self.accounted()} of {count}")
        finally:
            self.stop()


def bench_throughput(site: Site, gateways: dict[str, Gateway]) -> float:
    """Three rounds; returns the messages the workers accounted for."""
    bare_paho("register", site.broker_port)
    for gateway in gateways.values():
        gateway.register()
    rates: dict[str, list[float]] = {"bare": [], **{name: [] for name in gateways}}
    accounted = 0.0
    for round_ in range(ROUNDS):
        t0 = now_ms() - 3_600_000 + round_ * THROUGHPUT_MESSAGES
        run_process(publish_all, site.broker_port, THROUGHPUT_MESSAGES, t0,
                    round_ * THROUGHPUT_MESSAGES // DEVICES)
        rates["bare"].append(bare_paho("drain", site.broker_port,
                                       THROUGHPUT_MESSAGES)["msgs_per_s"])
        for name, gateway in gateways.items():
            rate, seen = gateway.drain(THROUGHPUT_MESSAGES)
            rates[name].append(rate)
            if name == "workers":
                accounted += seen
    bare_paho("forget", site.broker_port)
    context = {"messages": THROUGHPUT_MESSAGES, "devices": DEVICES,
               "estates": DEVICES // DEVICES_PER_ESTATE, "points_per_msg": "3-5",
               "median_of": ROUNDS, **machine()}
    workers = {"workers": WORKERS, "subscribe": os.environ.get("GATEWAY_BENCH_SUBSCRIBE",
                                                               "owned")}
    emit("bare_paho_qos1_msgs_per_s", round(statistics.median(rates["bare"])), "msg/s",
         **spread(rates["bare"]), client="stock paho, own process", **context)
    emit("ingest_qos1_msgs_per_s", round(statistics.median(rates["workers"])), "msg/s",
         **spread(rates["workers"]), **workers, **context)
    emit("ingest_one_process_qos1_msgs_per_s", round(statistics.median(rates["one"])), "msg/s",
         **spread(rates["one"]), **context)
    ratios = [g / b for g, b in zip(rates["workers"], rates["bare"], strict=True)]
    emit("ingest_vs_bare_paho", round(statistics.median(ratios), 3), "ratio",
         **spread(ratios, 3), **workers, **context)
    return accounted


# The wall's count of critical tickets (smoke alarms are critical; nothing else the bench raises
# is) with the time of each change, noted by the page as it draws the counts above the queue.
WALL_LOG = """() => {
  window.__wall = [];
  const el = document.getElementById("queue-counts");
  const critical = () =>
    Number(el.querySelector('[data-severity="critical"] strong')?.textContent || 0);
  const note = () => {
    const n = critical();
    const last = window.__wall.at(-1);
    if (!last || last[1] !== n) window.__wall.push([Date.now(), n]);
  };
  new MutationObserver(note).observe(el, { attributes: true, childList: true, subtree: true,
                                           characterData: true });
  note();
}"""


def publish_alarms(port: int, first: int, sent: list[int]) -> None:
    """Smoke alarms from distinct detectors (the ``first``-th on), ``ALARMS_PER_S`` a second,
    each time noted just before its packet is written (lean publisher, no paho in the way)."""
    from bench.loadgen import RawPublisher, publish_packet

    publisher = RawPublisher(port, "bench-alarms")
    try:
        start = time.monotonic()
        for n in range(ALARMS_PER_S * LOAD_SECONDS):
            device = 2 * (((first + n) * 37) % (DEVICES // 2)) + 1  # odd: smoke, spread
            at = now_ms()
            payload = orjson.dumps({"ts": at, "seq": 1, "event": "smoke_alarm"})
            publisher.send(publish_packet(topic(device, "event"), payload, n % 65535 + 1))
            sent.append(at)
            pause = start + (n + 1) / ALARMS_PER_S - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    finally:
        publisher.close()


def wall_round(page: Any, port: int, round_: int) -> dict[str, float]:
    """One round: telemetry at ``LOAD_RATE`` from the load generator while smoke alarms are
    published; the wall's record gives each ticket's arrival. Returns its figures."""
    page.evaluate(WALL_LOG)
    base = int(page.evaluate("window.__wall[0][1]"))
    context = multiprocessing.get_context("spawn")
    elapsed = context.Value("d", 0.0)
    load = context.Process(target=publish_load, args=(
        port, LOAD_RATE, LOAD_SECONDS, now_ms() - 600_000 + round_ * LOAD_RATE * LOAD_SECONDS,
        1_000_000 + round_ * LOAD_RATE * LOAD_SECONDS // DEVICES, elapsed))
    load.start()
    sent: list[int] = []
    try:
        publish_alarms(port, round_ * ALARMS_PER_S * LOAD_SECONDS, sent)
    finally:
        load.join(timeout=120)
    wanted = base + len(sent)
    wait_for(lambda: page.evaluate("window.__wall.at(-1)[1]") >= wanted, 60,
             poll_s=0.5)  # the page's script policy forbids waits evaluated in the page
    wall = page.evaluate("window.__wall")
    arrivals = [next(t for t, n in wall if n >= base + k)
                for k in range(1, min(len(sent), wall[-1][1] - base) + 1)]
    latencies = [a - s for a, s in zip(sorted(arrivals), sorted(sent), strict=False)]
    if min(latencies) < 0:
        raise RuntimeError("a critical ticket reached the wall before its alarm was published: "
                           "something else raised critical tickets during the round")
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": quantiles[49], "p99": quantiles[98], "max": max(latencies),
            "missing": len(sent) - len(latencies),
            "achieved": LOAD_RATE * LOAD_SECONDS / max(elapsed.value, 1e-9)}


def bench_end_to_end(site: Site, gateway: Gateway) -> float:
    """``ROUNDS`` rounds against one signed-in wall; returns the messages the workers
    accounted for."""
    from playwright.sync_api import sync_playwright

    from tests.pages.pages_support import CHROMIUM, CHROMIUM_ARGS, WALL_SIZE

    gateway.start()
    try:
        if not wait_for(gateway.ready, 90):
            gateway.check_alive()
            raise RuntimeError("gateway not ready")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport=WALL_SIZE).new_page()
                page.goto(f"http://127.0.0.1:{site.platform_port}/")
                page.locator("#signin-token").fill(site.tokens["property_office"])
                page.locator("#signin-form button[type=submit]").click()
                page.wait_for_selector("body[data-conn='live']", timeout=30_000)
                page.wait_for_selector("#queue-counts[data-total]", state="attached",
                                       timeout=30_000)
                time.sleep(2)  # let tickets raised before this part settle on the wall
                rounds = [wall_round(page, site.broker_port, r) for r in range(ROUNDS)]
            finally:
                browser.close()
        context = {"alarms_per_round": ALARMS_PER_S * LOAD_SECONDS,
                   "missing_from_wall": sum(r["missing"] for r in rounds),
                   "load_msgs_per_s": LOAD_RATE,
                   "achieved_load_msgs_per_s": round(min(r["achieved"] for r in rounds)),
                   "workers": WORKERS, "browser": "chromium-headless", "median_of": ROUNDS,
                   "max_ms": max(r["max"] for r in rounds), **machine()}
        for name, key in (("e2e_alarm_to_wall_p50_ms", "p50"),
                          ("e2e_alarm_to_wall_p99_ms", "p99")):
            values = [r[key] for r in rounds]
            emit(name, round(statistics.median(values), 1), "ms", **spread(values, 1),
                 **context)
        published = ROUNDS * (LOAD_RATE + ALARMS_PER_S) * LOAD_SECONDS
        wait_for(lambda: (gateway.accounted() or 0) >= published, 60)
        return gateway.accounted() or 0.0
    finally:
        gateway.stop()


def bench_pipeline(work: Path) -> None:
    broker = make_broker(work)
    broker.start()
    site = Site(work, broker.port, free_port(), new_tokens())
    write_tokens(work / "tokens.json", site.tokens)
    write_registry(work / "registry.csv", records(DEVICES))
    platform = site.platform()
    platform.start()
    try:
        wait_for_port(site.platform_port, 60)
        platform.check_alive()
        gateways = {"workers": site.gateway("workers", WORKERS,
                                            os.environ.get("GATEWAY_BENCH_SUBSCRIBE")),
                    "one": site.gateway("one", 1)}
        accounted = bench_throughput(site, gateways)
        accounted += bench_end_to_end(site, gateways["workers"])
        published = ROUNDS * (THROUGHPUT_MESSAGES + (LOAD_RATE + ALARMS_PER_S) * LOAD_SECONDS)
        emit("ingest_lost_msgs", published - accounted, "msgs", published=published,
             workers=WORKERS)
    finally:
        platform.stop()
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
