"""Carrier HTTP push and Modbus polling benchmark, through the whole gateway pipeline.

The gateway runs as the `gongzhi gateway` command runs it, in a process of its own, beside a
private Mosquitto (deploy/mosquitto/dev.conf; the gateway's own broker, idle here) and with
``GONGZHI_SOURCES`` naming a sources file of this run. No platform runs: nothing in the streams
raises an alarm, and the gateway's reports to the platform are retried in the background.

1. ``http_push_ingest_msgs_per_s``: pushes POSTed to the gateway's push port by a pooled async
   HTTP client (asyncio, ``CONCURRENCY`` requests in flight on keep-alive connections), each
   answered only once spooled, then translated, decoded, validated, deduplicated, stored and
   run through detection. Rate: messages accounted for by the source (accepted, read from the
   status port every 50 ms) over the time from the first request sent to the last message
   accounted. Two carriers: CTWing (one ``dataReport`` per push, as CTWing sends them) and
   OneNET (signed batch pushes of ``ONENET_BATCH`` data points). 2,000 devices (half smoke
   detectors, half electrical monitors); the median of three fresh gateways each, with min,
   max and every run. Beside it ``gateway_cpu_us_per_msg``: the CPU time of the gateway's
   processes (its own and its push front end's; user and system, from /proc) over the same
   span per message, the median of the rounds: a
   figure the machine's other work changes less than the rate.
2. ``modbus_registers_per_s``: 200 simulated monitors (units of pymodbus TCP servers in this
   process, laid out by the shipped example register map: 9 registers and bits in 3 requests
   per poll) on ``MODBUS_LINES`` lines (RS-485 to TCP converters, 20 units each, polled in
   parallel, the units of one line one after the other), each polled as fast as it answers.
   Rate: registers whose values reached the pipeline (accepted polls x registers per poll) over
   ``MODBUS_SECONDS``; median of three rounds.

Prints one JSON object per line, with the machine's load average. Runs in about two minutes.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.modbus_map import load_register_map
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.sources.onenet import readings
from gongzhi.hub.tokens import new_tokens, write_tokens
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from gongzhi.simulators.protocols import Route
from gongzhi.simulators.protocols.carrier import imei, onenet_device_id
from gongzhi.simulators.protocols.ctwing import CtwingEncoder
from gongzhi.simulators.protocols.onenet import OnenetEncoder, signed_push

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.bench_gateway import Service, emit, http_get, machine, now_ms  # noqa: E402
from bench.bench_sources import native  # noqa: E402
from tests.conftest import free_port, make_broker  # noqa: E402  (private-service helpers)

CARRIERS = ROOT / "deploy" / "sources" / "carriers-simulated.yaml"
EXAMPLE_MAP = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
DEVICES = 2_000
DEVICES_PER_ESTATE = 20
# Rounds of several seconds: at over 5,000 pushes a second a round of 10,000 lasted under two,
# and its first half-second (connections opening, the gateway's first batches) weighed on it.
CTWING_PUSHES = 30_000
ONENET_MESSAGES = 60_000
ONENET_BATCH = 100
CONCURRENCY = 64
ROUNDS = 3
MODBUS_SLAVES = 200
MODBUS_LINES = 10
MODBUS_SECONDS = 10.0
POLL_S = 0.05
TOKEN = "bench-onenet-token"


def spread(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values)), "max": round(max(values)),
            "runs": [round(v) for v in values]}


def device_records(identity: Callable[[str], str]) -> list[DeviceRecord]:
    out = []
    for n in range(DEVICES):
        device_type = DeviceType.ELECTRICAL if n % 2 == 0 else DeviceType.SMOKE
        device_id = f"d{n}"
        out.append(DeviceRecord(device_id=device_id, type=device_type, external_id=identity(
            device_id), location=Location(f"e{n // DEVICES_PER_ESTATE}",
                                          f"b{(n % DEVICES_PER_ESTATE) // 2}", "1", "3", str(n))))
    return out


@dataclass
class Gateway(Service):
    """``gongzhi gateway`` with a sources file, in a process of its own."""

    port: int = 0

    @classmethod
    def make(cls, work: Path, broker_port: int, sources: Path, name: str) -> Gateway:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        env.update(GONGZHI_MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
                   GONGZHI_REGISTRY=str(work / "registry.csv"),
                   GONGZHI_TOKENS_FILE=str(work / "tokens.json"),
                   GONGZHI_DATA_DIR=str(work / name), GONGZHI_GATEWAY_HTTP_PORT=str(port),
                   GONGZHI_PLATFORM_URL=f"http://127.0.0.1:{free_port()}",
                   GONGZHI_GATEWAY_ID=f"bench-{name}", GONGZHI_LOG_LEVEL="ERROR",
                   GONGZHI_SOURCES=str(sources))
        return cls(["gateway"], env, work / f"{name}.log", port=port)

    def start(self) -> None:
        super().start()
        self.wait(self.ready, 90)

    def ready(self) -> bool:
        try:
            status, _ = http_get(f"http://127.0.0.1:{self.port}/healthz")
        except OSError:
            return False
        return status == 200

    def metric(self, prefix: str) -> float:
        try:
            status, body = http_get(f"http://127.0.0.1:{self.port}/metrics")
        except OSError:
            return 0.0
        total = 0.0
        for line in body.decode().splitlines() if status == 200 else ():
            if line.startswith(prefix):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            self.check_alive()
            time.sleep(POLL_S)
        raise RuntimeError(f"the gateway timed out; see {self.log}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def accepted(source: str) -> str:
    return f'gongzhi_gateway_source_messages_accepted_total{{source="{source}"}}'


async def _connection(host: str, port: int, path: str, queue: asyncio.Queue[bytes]) -> None:
    """One keep-alive HTTP/1.1 connection posting bodies from the queue until it is empty."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while not queue.empty():
            body = queue.get_nowait()
            writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode()
                         + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
            if b" 200 " not in status_line:
                raise RuntimeError(f"push answered {status_line!r}: {answer[:200]!r}")
    finally:
        writer.close()


async def fire(url: str, bodies: list[bytes]) -> None:
    """POST every body, ``CONCURRENCY`` in flight on as many keep-alive connections (a small
    asyncio client: httpx's pool costs more than the server under test at this rate)."""
    parts = httpx.URL(url)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    await asyncio.gather(*(_connection(parts.host, parts.port or 80, parts.path, queue)
                           for _ in range(CONCURRENCY)))


def cpu_s(pid: int) -> float:
    """The CPU time so far of a process and of those it started (the push front end),
    user and system (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return own + sum(cpu_s(child) for child in children)


def push_round(work: Path, broker_port: int, carrier: str, round_: int) -> tuple[float, float]:
    """One fresh gateway; msg/s from the first push sent to the last message accounted, and
    the gateway's CPU microseconds a message over that span."""
    ctwing_port, onenet_port = free_port(), free_port()
    sources = work / f"sources-{carrier}-{round_}.yaml"
    sources.write_text(CARRIERS.read_text()
                       .replace("0.0.0.0:8091", f"127.0.0.1:{ctwing_port}")
                       .replace("0.0.0.0:8092", f"127.0.0.1:{onenet_port}")
                       .replace("../../gateway/gongzhi/gateway/sources/maps/",
                                str(EXAMPLE_MAP.parent) + "/")
                       .split("  - id: riser-monitors")[0])  # no Modbus line here
    (work / "onenet.token").write_text(TOKEN)
    t0 = now_ms() - 3_600_000
    if carrier == "ctwing":
        identity: Callable[[str], str] = imei
        encoder = CtwingEncoder(device_records(imei), Route(push_url="http://unused"))
        bodies = [orjson.dumps(encoder.report(native(n, t0, 0))) for n in range(CTWING_PUSHES)]
        url, source, expect = f"http://127.0.0.1:{ctwing_port}/ctwing", "telecom", CTWING_PUSHES
    else:
        identity = lambda d: str(onenet_device_id(d))  # noqa: E731
        onenet = OnenetEncoder(device_records(identity), round_,
                               Route(push_url="http://unused", push_token=TOKEN))
        messages: list[dict[str, Any]] = []
        n = 0
        while len(messages) < ONENET_MESSAGES:
            messages += onenet.messages(native(n, t0, 0))
            n += 1
        rng = random.Random(round_)
        messages = messages[:ONENET_MESSAGES]
        batches = [messages[i:i + ONENET_BATCH] for i in range(0, ONENET_MESSAGES, ONENET_BATCH)]
        bodies = [signed_push(TOKEN, batch, "".join(rng.choices(string.ascii_letters, k=8)))
                  for batch in batches]
        # The source accounts for readings (a device's data points at one time).
        url, source = f"http://127.0.0.1:{onenet_port}/onenet", "mobile"
        expect = sum(len(readings(batch)) for batch in batches)
    write_registry(work / "registry.csv", device_records(identity))
    gateway = Gateway.make(work, broker_port, sources, f"{carrier}-{round_}")
    gateway.start()
    try:
        gateway.wait(lambda: _listening(ctwing_port if carrier == "ctwing" else onenet_port),
                     60)
        assert gateway.proc is not None
        cpu_before, start = cpu_s(gateway.proc.pid), time.perf_counter()
        asyncio.run(fire(url, bodies))
        sent_s = time.perf_counter() - start
        gateway.wait(lambda: gateway.metric(accepted(source)) >= expect, 300)
        elapsed = time.perf_counter() - start
        cpu = cpu_s(gateway.proc.pid) - cpu_before
        messages_in = CTWING_PUSHES if carrier == "ctwing" else ONENET_MESSAGES
        rejected = gateway.metric("gongzhi_gateway_source_messages_rejected_total")
        if rejected:
            raise RuntimeError(f"{rejected} messages refused; see the dead letters")
        print(f"# {carrier} round {round_}: {len(bodies)} pushes answered in {sent_s:.1f} s, "
              f"{messages_in} messages ({expect} readings) through the pipeline in "
              f"{elapsed:.1f} s", file=sys.stderr)
        return messages_in / elapsed, cpu * 1e6 / messages_in
    finally:
        gateway.stop()


def modbus_round(work: Path, broker_port: int, round_: int) -> float:
    rcm = load_register_map(EXAMPLE_MAP)
    per_line = MODBUS_SLAVES // MODBUS_LINES
    servers = [ModbusSlaveServer("127.0.0.1", free_port(), {u: rcm for u in range(1, per_line + 1)})
               for _ in range(MODBUS_LINES)]
    records: list[DeviceRecord] = []
    for line, server in enumerate(servers):
        for unit in range(1, per_line + 1):
            server.set_reading(unit, {"residual_ma": 25.0 + unit, "cable_temp_c": 33.4,
                                      "current_a": 7.25, "voltage_v": 220.5, "power_w": 1590.0})
            n = len(records)
            records.append(DeviceRecord(
                f"m{n}", DeviceType.ELECTRICAL,
                Location(f"e{n // DEVICES_PER_ESTATE}", f"b{line}", "1", "1", str(n)),
                external_id=f"modbus:127.0.0.1:{server.port}/{unit}"))
    write_registry(work / "registry.csv", records)
    text = "sources:\n"
    for line, server in enumerate(servers):
        text += (f"  - id: line{line}\n    kind: modbus\n    options:\n"
                 f"      host: 127.0.0.1\n      port: {server.port}\n      period: 1ms\n"
                 f"      timeout: 1s\n      maps: {{rcm: {EXAMPLE_MAP}}}\n      slaves:\n"
                 + "".join(f"        - {{unit: {u}, map: rcm}}\n"
                           for u in range(1, per_line + 1)))
    sources = work / f"sources-modbus-{round_}.yaml"
    sources.write_text(text)
    for server in servers:
        server.start()
    gateway = Gateway.make(work, broker_port, sources, f"modbus-{round_}")
    try:
        gateway.start()
        prefix = "gongzhi_gateway_source_messages_accepted_total"
        gateway.wait(lambda: gateway.metric(prefix) >= MODBUS_SLAVES, 60)
        before, start = gateway.metric(prefix), time.perf_counter()
        time.sleep(MODBUS_SECONDS)  # a measuring window, not time control
        after, elapsed = gateway.metric(prefix), time.perf_counter() - start
        rejected = gateway.metric("gongzhi_gateway_source_messages_rejected_total")
        if rejected:
            raise RuntimeError(f"{rejected} polls refused; see the dead letters")
        return (after - before) * rcm.register_count / elapsed
    finally:
        gateway.stop()
        for server in servers:
            server.stop()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gongzhi-bench-push-"))
    write_tokens(work / "tokens.json", new_tokens())
    broker = make_broker(work)
    broker.start()
    try:
        for carrier, batch in (("ctwing", 1), ("onenet", ONENET_BATCH)):
            rounds = [push_round(work, broker.port, carrier, r) for r in range(ROUNDS)]
            runs = [rate for rate, _ in rounds]
            emit("http_push_ingest_msgs_per_s", round(statistics.median(runs)), "msg/s",
                 carrier=carrier, messages_per_push=batch, concurrency=CONCURRENCY,
                 devices=DEVICES, **spread(runs), gateway_cpu_us_per_msg=round(
                     statistics.median(cpu for _, cpu in rounds)), **machine())
        runs = [modbus_round(work, broker.port, r) for r in range(ROUNDS)]
        emit("modbus_registers_per_s", round(statistics.median(runs)), "registers/s",
             slaves=MODBUS_SLAVES, lines=MODBUS_LINES,
             registers_per_poll=load_register_map(EXAMPLE_MAP).register_count,
             **spread(runs), **machine())
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
