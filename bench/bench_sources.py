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
Rate from the first message accounted (processed, refused or dropped as a repeat, read from the
status port every 50 ms; ``bench_gateway.Gateway``) to the last; the median of three rounds with
min, max and every run. The same harness on the same devices publishing our own contract gives
``native_ingest_msgs_per_s`` for comparison (on a broker of its own, so that neither gateway
sees the other's stream).

Prints one JSON object per line, with the machine's load average. Runs in about two minutes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

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
from bench.bench_gateway import (  # noqa: E402  (the gateway bench's harness)
    Gateway,
    emit,
    machine,
    run_process,
    spread,
)
from tests.conftest import free_port, make_broker  # noqa: E402  (private-service helpers)

SOURCES = ROOT / "deploy" / "sources" / "chirpstack-simulated.yaml"
MESSAGES = 30_000
ROUNDS = 3
DEVICES = 2_000
DEVICES_PER_ESTATE = 20


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


def gateway(work: Path, broker_port: int, sources: bool) -> Gateway:
    """The gateway command on ``broker_port`` (``GONGZHI_SOURCES`` set when ``sources``)."""
    name = "sources" if sources else "native"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update(GONGZHI_MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
               GONGZHI_REGISTRY=str(work / "registry.csv"),
               GONGZHI_TOKENS_FILE=str(work / "tokens.json"),
               GONGZHI_DATA_DIR=str(work / name), GONGZHI_GATEWAY_HTTP_PORT=str(port),
               GONGZHI_PLATFORM_URL=f"http://127.0.0.1:{free_port()}",
               GONGZHI_GATEWAY_ID=f"bench-{name}", GONGZHI_LOG_LEVEL="ERROR")
    if sources:
        env["GONGZHI_SOURCES"] = str(SOURCES)
    return Gateway(["gateway"], env, work / f"gateway-{name}.log", port=port)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gongzhi-bench-sources-"))
    brokers = {name: make_broker(work, extra=f"# {name}\n") for name in ("chirpstack", "native")}
    for broker in brokers.values():
        broker.start()
    try:
        write_registry(work / "registry.csv", records())
        write_tokens(work / "tokens.json", new_tokens())
        ports = {name: broker.port for name, broker in brokers.items()}
        gateways = {"chirpstack": gateway(work, ports["chirpstack"], sources=True),
                    "native": gateway(work, ports["native"], sources=False)}
        for each in gateways.values():
            each.register()
        rates: dict[str, list[float]] = {name: [] for name in gateways}
        for round_ in range(ROUNDS):
            for name in gateways:
                t0 = now_ms() - MESSAGES - 60_000
                run_process(publish, ports[name], name, t0, 1 + round_ * 100)
                rates[name].append(gateways[name].drain(MESSAGES)[0])
        for name, unit_name in (("chirpstack", "chirpstack_ingest_msgs_per_s"),
                                ("native", "native_ingest_msgs_per_s")):
            values = rates[name]
            emit(unit_name, round(statistics.median(values)), "msg/s", **spread(values),
                 messages=MESSAGES, devices=DEVICES, **machine())
    finally:
        for broker in brokers.values():
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
