"""What the fault tests share: an estate of alarm and telemetry devices, a device-side publisher
that retries until the broker has each message (as a device does), the counts at the end and
the one-line summary every test prints.

The stream is known in advance: ``alarms`` tamper events, one per alarm device (each must become
exactly one ticket), and ``telemetry`` water-pressure readings spread over the telemetry devices,
one point each, every one with its own (device, time) and a per-device ``seq``. Timestamps are
real and in the past (the gateway refuses device times in the future)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.core.broker import wait_for_port
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from tests.conftest import Broker, free_port, started_broker
from tests.e2e.harness import System, make_system, wait_until

ESTATE = "chaos"
ALARM_DEVICES = [f"tmp-{n:03d}" for n in range(40)]
TELEMETRY_DEVICES = [f"wp-{n:02d}" for n in range(20)]
STEP_MS = 50  # device time between two readings of one device


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def chaos_registry() -> list[DeviceRecord]:
    """Smoke detectors (their tamper events are the alarms) spread over four buildings, and
    fire-water pressure sensors on the risers (their readings are the telemetry)."""
    records = [DeviceRecord(device, DeviceType.SMOKE,
                            Location(ESTATE, f"B{n % 4}", "U1", str(n // 4 % 9 + 1), f"r{n}"),
                            household=f"H{n}")
               for n, device in enumerate(ALARM_DEVICES)]
    records += [DeviceRecord(device, DeviceType.WATER_PRESSURE,
                             Location(ESTATE, f"B{n % 4}", "U1", "1", "riser"), riser=f"R{n}")
                for n, device in enumerate(TELEMETRY_DEVICES)]
    return records


# --- the stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    alarm: bool


def planned_stream(alarms: int, telemetry: int, t0_ms: int) -> list[Message]:
    """Telemetry in global time order with the alarms spread evenly through it. The last
    reading is stamped ``t0_ms``; everything else before it."""
    per_device = -(-telemetry // len(TELEMETRY_DEVICES))
    first = t0_ms - per_device * len(TELEMETRY_DEVICES) * STEP_MS
    readings = []
    for i in range(telemetry):
        device = TELEMETRY_DEVICES[i % len(TELEMETRY_DEVICES)]
        seq = i // len(TELEMETRY_DEVICES)
        value = 0.30 + ((i * 7919) % 41 - 20) / 4000  # 0.295-0.305 MPa: normal, never flat
        body = {"ts": first + i * STEP_MS, "seq": seq, "values": {"pressure_mpa": value}}
        readings.append(Message(f"estate/{ESTATE}/{device}/telemetry", orjson.dumps(body), False))
    events = [Message(f"estate/{ESTATE}/{device}/event",
                      orjson.dumps({"ts": first + n, "seq": 1, "event": "tamper",
                                    "detail": {"reason": "removed_from_base"}}), True)
              for n, device in enumerate(ALARM_DEVICES[:alarms])]
    stream: list[Message] = []
    every = max(1, len(readings) // max(1, len(events)))
    event_iter = iter(events)
    for i, reading in enumerate(readings):
        if i % every == 0:
            stream.extend(itertools.islice(event_iter, 1))
        stream.append(reading)
    stream.extend(event_iter)
    return stream


class DevicePublisher:
    """Publishes at QoS 1 and counts a message as published once the broker acknowledged it.
    While the broker is away it keeps what it could not deliver and sends it again on
    reconnection, as devices do (the gateway drops the repeats by ``seq``)."""

    def __init__(self, port: int, *, window: int = 200) -> None:
        self.port = port
        self.window = window
        self.alarms = 0
        self.telemetry = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"chaos-dev-{os.urandom(4).hex()}")
        self.client.max_inflight_messages_set(window)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        self._acked: set[int] = set()
        self._acked_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> DevicePublisher:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, messages: list[Message], *, timeout_s: float = 60.0) -> None:
        for start in range(0, len(messages), self.window):
            self._publish_window(messages[start:start + self.window], timeout_s)

    def publish_in_background(self, messages: list[Message], *, pace_s: float = 0.0) -> None:
        """Publish from a thread (``pace_s`` between windows) while the test injects a fault;
        ``join()`` waits for it and re-raises its error."""
        def run() -> None:
            try:
                for start in range(0, len(messages), self.window):
                    self._publish_window(messages[start:start + self.window], 60.0)
                    time.sleep(pace_s)
            except BaseException as exc:
                self._error = exc

        self._thread = threading.Thread(target=run, name="chaos-publisher", daemon=True)
        self._thread.start()

    def published_so_far(self) -> int:
        return self.alarms + self.telemetry

    def join(self, timeout_s: float = 120.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
            assert not self._thread.is_alive(), "the publisher did not finish"
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, *rest: object) -> None:
        with self._acked_lock:
            self._acked.add(mid)

    def _publish_window(self, window: list[Message], timeout_s: float) -> None:
        # Unsent messages stay in paho's queue (rc "no connection") and go out again on
        # reconnection; a message counts once its PUBACK came.
        pending = {self.client.publish(m.topic, m.payload, qos=1).mid: m for m in window}
        deadline = time.monotonic() + timeout_s
        while pending:
            with self._acked_lock:
                done = self._acked & pending.keys()
                self._acked -= done
            for mid in done:
                self._count(pending.pop(mid))
            if pending:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(pending)} messages never acknowledged by the "
                                         "broker")
                time.sleep(0.01)

    def _count(self, message: Message) -> None:
        if message.alarm:
            self.alarms += 1
        else:
            self.telemetry += 1


# --- counting at the end ------------------------------------------------------------------


@dataclass
class Tally:
    name: str
    alarms_published: int = 0
    tickets: int = 0
    duplicates: int = 0
    telemetry_published: int = 0
    stored: int = 0
    dropped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        text = (f"chaos {self.name}: alarms published={self.alarms_published} "
                f"tickets={self.tickets} duplicates={self.duplicates} "
                f"telemetry published={self.telemetry_published} stored={self.stored} "
                f"dropped={self.dropped}")
        return text + "".join(f" {k}={v}" for k, v in self.extra.items())

    def report(self, record_property: Callable[[str, object], None]) -> None:
        """Into the JUnit properties, whatever the outcome; the suite's summary prints them
        (tests/conftest.py), from whichever worker ran the test."""
        record_property("chaos", self.line())

    def balanced(self) -> bool:
        return (self.tickets == self.alarms_published and self.duplicates == 0
                and self.stored + self.dropped == self.telemetry_published)


def alarm_tickets(sysm: System) -> tuple[int, int]:
    """(tickets of the alarm devices, repeats among them): a repeat is a second ticket for one
    device or an occurrence past the first."""
    tickets = [t for t in sysm.tickets("police_room", kind="tamper", limit="5000")
               if t["device_id"] in set(ALARM_DEVICES)]
    devices = {t["device_id"] for t in tickets}
    occurrences = sum(int(t["occurrences"]) for t in tickets)
    return len(devices), occurrences - len(devices)


def stored_points(telemetry_db: Path) -> int:
    """Rows of the telemetry devices in the embedded store (one point each)."""
    if not telemetry_db.exists():
        return 0
    marks = ",".join("?" * len(TELEMETRY_DEVICES))
    with contextlib.closing(sqlite3.connect(f"file:{telemetry_db}?mode=ro", uri=True,
                                            timeout=10)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'points_%'")]
        return sum(conn.execute(f"SELECT count(*) FROM {t} WHERE device_id IN ({marks})",
                                TELEMETRY_DEVICES).fetchone()[0] for t in tables)


def gateway_metric(sysm: System, name: str) -> float:
    """A gateway counter or gauge summed over its labels; 0 when the gateway does not answer."""
    try:
        text = sysm.gateway_metrics()
    except httpx.HTTPError:
        return 0.0
    prefix = f"gongzhi_gateway_{name}"
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix) and line[len(prefix):len(prefix) + 1] in (" ", "{"))


def counter(sysm: System, tally: Tally, publisher: DevicePublisher) -> Callable[[], None]:
    """Reads the counts of a run into ``tally`` (for ``settle``): what the publisher got
    acknowledged, the tickets of the alarm devices, the readings stored, the refusals."""
    def read() -> None:
        tally.alarms_published = publisher.alarms
        tally.telemetry_published = publisher.telemetry
        tally.tickets, tally.duplicates = alarm_tickets(sysm)
        tally.stored = stored_points(sysm.root / "telemetry.db")
        tally.dropped = int(gateway_metric(sysm, "messages_rejected_total"))
    return read


def settle(tally: Tally, read: Callable[[], None], *, timeout_s: float) -> None:
    """Re-read the counts until they balance or the deadline passes (then the test's asserts
    show the numbers)."""
    with contextlib.suppress(AssertionError):
        def balanced() -> bool:
            read()
            return tally.balanced()
        wait_until(balanced, timeout_s, "the counts to balance")
    read()


# --- the system under test ----------------------------------------------------------------


def start_system(root: Path, broker_url: str, *, gateway_env: dict[str, str] | None = None,
                 platform_env: dict[str, str] | None = None, start: bool = True) -> System:
    """``gongzhi platform`` and ``gongzhi gateway`` as processes on the chaos estate (started
    unless ``start`` is false: then ``start_platform`` and ``start_gateway`` do it)."""
    sysm = make_system(root, broker_url, free_port)
    write_registry(root / "registry.csv", chaos_registry())
    sysm.add("platform", "platform").env.update(platform_env or {})
    sysm.add("gateway", "gateway").env.update(gateway_env or {})
    if start:
        start_platform(sysm)
        start_gateway(sysm)
    return sysm


def start_platform(sysm: System) -> None:
    sysm.services["platform"].start()
    sysm.wait_healthy(f"{sysm.base}/healthz", timeout=60)


def start_gateway(sysm: System) -> None:
    sysm.services["gateway"].start()
    sysm.wait_subscribed()



@contextlib.contextmanager
def persistent_broker(tmp_path: Path, extra: str = "") -> Iterator[Broker]:
    """A private Mosquitto with persistence, as deploy/mosquitto/mosquitto.conf has it: a
    restart keeps persistent sessions and the messages queued for them."""
    # Mosquitto drops root for its own user before writing: pytest's tmp_path is private.
    store = Path(tempfile.mkdtemp(prefix="gongzhi-chaos-broker-"))
    store.chmod(0o777)
    try:
        with started_broker(tmp_path, f"persistence true\npersistence_location {store}/\n"
                                      + extra) as broker:
            yield broker
    finally:
        shutil.rmtree(store, ignore_errors=True)


@contextlib.contextmanager
def running(sysm: System) -> Iterator[System]:
    try:
        yield sysm
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()


# --- VictoriaMetrics as the InfluxDB the gateway writes to ----------------------------------


class Victoria:
    """A real VictoriaMetrics on a free port taking InfluxDB line protocol. No deduplication:
    a point written twice is stored twice, so the export shows any repeat."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        self.proc = subprocess.Popen(
            [exe, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.data}",
             "-retentionPeriod=100y", "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, 30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def samples(self) -> list[tuple[str, int]]:
        """(device, time) of every stored pressure sample, repeats included."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10)
        answer = httpx.post(f"{self.url}/api/v1/export",
                            data={"match[]": 'telemetry_pressure_mpa{estate="chaos"}'},
                            timeout=30)
        answer.raise_for_status()
        found: list[tuple[str, int]] = []
        for line in answer.text.splitlines():
            if line:
                series = orjson.loads(line)
                found += [(series["metric"]["device"], ts) for ts in series["timestamps"]]
        return found
