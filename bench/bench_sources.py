"""Outside-source benchmark: ChirpStack v4 uplinks through the whole gateway pipeline.

Private Mosquittos (deploy/mosquitto/dev.conf) and the gateway as the `gongzhi gateway`
command runs it, in a process of its own, with ``GONGZHI_SOURCES`` naming
deploy/sources/chirpstack-simulated.yaml (the ChirpStack source on the same broker) and a
registry of 2,000 devices (half electrical monitors with 5 metrics, half smoke detectors with
3) carrying their devEUIs. No platform runs: nothing in the stream raises an alarm, and the
gateway's reports to the platform are retried in the background.

``chirpstack_ingest_msgs_per_s``: a backlog of 30,000 QoS 1 v4 uplinks (as
``gongzhi simulate --protocol chirpstack-v4`` encodes them, about 1.2 kB each, published by a
process of its own) waits in the broker for the source's persistent session; the gateway then
drains it alone: translate, decode, validate, dedup, store, detect, acknowledge after commit.
Rate from the first message accounted (``messages_processed_total``, read from the status port
every 50 ms) to the last; the median of three rounds with min, max and every run. The same
harness on the same devices publishing our own contract gives ``native_ingest_msgs_per_s`` for
comparison (on a broker of its own, so that neither gateway sees the other's stream).

Prints one JSON object per line, with the machine's load average. Runs in about two minutes.
"""

from __future__ import annotations

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.tokens import new_tokens, write_tokens
from gongzhi.simulators.outgoing import Message
from gongzhi.simulators.protocols.chirpstack import ChirpStackEncoder, dev_eui

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import free_port, make_broker  # noqa: E402  (private-service helpers)

SOURCES = ROOT / "deploy" / "sources" / "chirpstack-simulated.yaml"
MESSAGES = 30_000
ROUNDS = 3
DEVICES = 2_000
DEVICES_PER_ESTATE = 20
POLL_S = 0.05


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(orjson.dumps({"name": name, "value": value, "unit": unit, **context}).decode(),
          flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def records() -> list[DeviceRecord]:
    out = []
    for n in range(DEVICES):
        device_type = DeviceType.ELECTRICAL if n % 2 == 0 else DeviceType.SMOKE
        record = DeviceRecord(device_id=f"d{n}", type=device_type, location=Location(
            f"e{n // DEVICES_PER_ESTATE}", f"b{(n % DEVICES_PER_ESTATE) // 2}", "1", "3", str(n)))
        out.append(replace(record, external_id=dev_eui(record.device_id)))
    return out


def native(n: int, t0: int, first_seq: int) -> Message:
    device = n % DEVICES
    seq = first_seq + n // DEVICES
    if device % 2 == 0:
        values: dict[str, float] = {"residual_ma": 10 + seq % 7, "cable_temp_c": 31.5,
                                    "current_a": 6.2 + seq % 3, "voltage_v": 221.0,
                                    "power_w": 1350.0}
    else:
        values = {"smoke_db_m": 0.01, "temp_c": 22.5, "battery_pct": 87}
    topic = f"estate/e{device // DEVICES_PER_ESTATE}/d{device}/telemetry"
    return Message(device, topic, orjson.dumps({"ts": t0 + n, "seq": seq, "values": values}), 1)


def publish(port: int, protocol: str, t0: int, first_seq: int) -> None:
    """Publish the round's stream at QoS 1 (a process of its own)."""
    encoder = ChirpStackEncoder(4, records(), 0) if protocol == "chirpstack" else None
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{protocol}",
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for n in range(MESSAGES):
        message = native(n, t0, first_seq)
        if encoder is not None:
            encoded = encoder.message(message)
            assert encoded is not None
            message = encoded
        infos.append(client.publish(message.topic, message.payload, qos=1))
        if len(infos) > 20_000:
            infos.pop(0).wait_for_publish(timeout=60)
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def run_process(target: Any, *args: Any) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join(timeout=300)
    if proc.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed ({proc.exitcode})")


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Gateway:
    work: Path
    broker_port: int
    sources: bool
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        data = self.work / ("sources" if self.sources else "native")
        env.update(GONGZHI_MQTT_URL=f"mqtt://127.0.0.1:{self.broker_port}",
                   GONGZHI_REGISTRY=str(self.work / "registry.csv"),
                   GONGZHI_TOKENS_FILE=str(self.work / "tokens.json"),
                   GONGZHI_DATA_DIR=str(data), GONGZHI_GATEWAY_HTTP_PORT=str(self.port),
                   GONGZHI_PLATFORM_URL=f"http://127.0.0.1:{free_port()}",
                   GONGZHI_GATEWAY_ID="bench-sources" if self.sources else "bench-native",
                   GONGZHI_LOG_LEVEL="ERROR")
        if self.sources:
            env["GONGZHI_SOURCES"] = str(SOURCES)
        log = self.work / f"gateway-{'sources' if self.sources else 'native'}.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gongzhi.core.cli", "gateway"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def processed(self) -> float | None:
        try:
            status, body = http_get(f"http://127.0.0.1:{self.port}/metrics")
        except OSError:
            return None
        if status != 200:
            return None
        for line in body.decode().splitlines():
            if line.startswith("gongzhi_gateway_messages_processed_total "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def wait(self, predicate: Any, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited; see {self.work}")
            time.sleep(POLL_S)
        raise RuntimeError(f"the gateway timed out; see {self.work}")

    def register(self) -> None:
        """Start until ready (its sessions exist at the broker), then stop."""
        self.start()
        try:
            self.wait(lambda: _ready(self.port), 90)
        finally:
            self.stop()

    def drain(self) -> float:
        """msg/s from the first message processed to the last of the backlog."""
        self.start()
        try:
            first: tuple[float, float] | None = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                seen = self.processed()
                at = time.perf_counter()
                if seen:
                    if first is None:
                        first = (at, seen)
                    if seen >= MESSAGES:
                        if at == first[0]:
                            raise RuntimeError("drained before the first look")
                        return (seen - first[1]) / (at - first[0])
                elif self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"the gateway exited; see {self.work}")
                time.sleep(POLL_S)
            raise RuntimeError(f"drained only {self.processed()} of {MESSAGES}")
        finally:
            self.stop()


def _ready(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200
    except OSError:
        return False


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gongzhi-bench-sources-"))
    brokers = {name: make_broker(work, extra=f"# {name}\n") for name in ("chirpstack", "native")}
    for broker in brokers.values():
        broker.start()
    try:
        write_registry(work / "registry.csv", records())
        write_tokens(work / "tokens.json", new_tokens())
        gateways = {"chirpstack": Gateway(work, brokers["chirpstack"].port, sources=True),
                    "native": Gateway(work, brokers["native"].port, sources=False)}
        for gateway in gateways.values():
            gateway.register()
        rates: dict[str, list[float]] = {name: [] for name in gateways}
        for round_ in range(ROUNDS):
            for name, gateway in gateways.items():
                t0 = now_ms() - MESSAGES - 60_000
                run_process(publish, gateway.broker_port, name, t0, 1 + round_ * 100)
                rates[name].append(gateway.drain())
        load = {"load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
        for name, unit_name in (("chirpstack", "chirpstack_ingest_msgs_per_s"),
                                ("native", "native_ingest_msgs_per_s")):
            values = rates[name]
            emit(unit_name, round(statistics.median(values)), "msg/s",
                 min=round(min(values)), max=round(max(values)),
                 runs=[round(v) for v in values], messages=MESSAGES, devices=DEVICES,
                 **load)
    finally:
        for broker in brokers.values():
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
