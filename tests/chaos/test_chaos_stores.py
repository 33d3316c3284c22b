"""Faults of the stores behind the processes, each in the middle of a known stream: the
telemetry store (InfluxDB's protocol, served by a real VictoriaMetrics) goes away and comes back,
its spool reaches the disk bound, the ticket database (the real PostgreSQL) becomes unreachable
and comes back. Each test prints its counts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from chaos_proxy import TcpProxy
from chaos_support import (
    DevicePublisher,
    Tally,
    Victoria,
    alarm_tickets,
    gateway_metric,
    now_ms,
    planned_stream,
    running,
    settle,
    start_system,
    stored_points,
)

from gongzhi.gateway.ingest_worker import BATCH_SIZE
from tests.conftest import Broker
from tests.e2e.harness import System, wait_until

pytestmark = pytest.mark.integration

ALARMS = 40
TELEMETRY = 2000
OUTAGE_S = 10.0  # how long a store stays away
# Bytes of line protocol. The spool keeps the batch just appended whatever its size, so the bound
# must hold one ingest batch (up to BATCH_SIZE points of about 95 bytes): 40,000 was under a full
# batch of 500, and a busy gateway taking one ended with 47,297 bytes spooled. Still under a third
# of the stream, so the oldest points are dropped.
SPOOL_BOUND = 120 * BATCH_SIZE
Reporter = Callable[[str, object], None]


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[Victoria]:
    vm = Victoria(tmp_path / "vm-data")
    try:
        yield vm
    finally:
        vm.stop()


def influx_env(vm: Victoria, **extra: str) -> dict[str, str]:
    return {"GONGZHI_INFLUX_URL": vm.url, "GONGZHI_INFLUX_TOKEN": "unused", **extra}


def planned_points(stream_bytes: list[bytes], topics: list[str]) -> list[tuple[str, int]]:
    """(device, time) of every reading of the stream, in publishing order."""
    return [(topic.split("/")[2], orjson.loads(payload)["ts"])
            for topic, payload in zip(topics, stream_bytes, strict=True)
            if topic.endswith("/telemetry")]


def settle_on_the_store(tally: Tally, sysm: System, publisher: DevicePublisher,
                        victoria: Victoria) -> list[tuple[str, int]]:
    """Count until the store's points and the counted drops make up what was published; the
    samples read last (repeats included)."""
    samples: list[tuple[str, int]] = []

    def read() -> None:
        nonlocal samples
        tally.alarms_published = publisher.alarms
        tally.telemetry_published = publisher.telemetry
        tally.tickets, tally.duplicates = alarm_tickets(sysm)
        samples = victoria.samples()
        tally.stored = len(set(samples))
        tally.dropped = int(gateway_metric(sysm, "influx_points_dropped_total"))

    settle(tally, read, timeout_s=90)
    return samples


def test_telemetry_store_down_then_back(tmp_path: Path, broker: Broker, victoria: Victoria,
                                        record_property: Reporter) -> None:
    """The gateway spools to disk while the store is away and replays oldest first: every
    point is in the store exactly once (read back through /api/v1/export)."""
    tally = Tally("telemetry_store_down")
    victoria.start()
    sysm = start_system(tmp_path / "sys", broker.url, gateway_env=influx_env(victoria))
    with running(sysm), DevicePublisher(broker.port) as publisher:
        stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
        planned = planned_points([m.payload for m in stream], [m.topic for m in stream])
        publisher.publish_in_background(stream, pace_s=0.1)
        wait_until(lambda: publisher.telemetry >= TELEMETRY // 3, 60, "a third of the stream")
        victoria.stop()
        down = time.monotonic()
        spool_peak = 0.0
        while time.monotonic() - down < OUTAGE_S:
            spool_peak = max(spool_peak, gateway_metric(sysm, "spool_points"))
            time.sleep(0.2)
        publisher.join()
        spool_peak = max(spool_peak, gateway_metric(sysm, "spool_points"))
        victoria.start()
        samples = settle_on_the_store(tally, sysm, publisher, victoria)
        repeats = len(samples) - len(set(samples))
        tally.extra.update(store_repeats=repeats, outage_s=OUTAGE_S, spool_peak_points=int(
            spool_peak), write_failures=int(gateway_metric(sysm, "influx_write_failures_total")),
            embedded_store=stored_points(sysm.root / "telemetry.db"))
        tally.report(record_property)
    assert spool_peak > 0, "the outage should have spooled points"
    assert tally.tickets == ALARMS and tally.duplicates == 0, tally.line()
    assert tally.dropped == 0 and repeats == 0, tally.line()
    assert sorted(samples) == sorted(planned), tally.line()


def test_spool_disk_bound_drops_oldest_telemetry_and_never_an_alarm(
        tmp_path: Path, broker: Broker, victoria: Victoria, record_property: Reporter) -> None:
    """The store is away for the whole stream and the spool may hold 40 kB: past the bound the
    oldest points go (counted), the newest stay and reach the store when it is back; every
    alarm still becomes its ticket."""
    tally = Tally("spool_bound")
    sysm = start_system(tmp_path / "sys", broker.url, gateway_env=influx_env(
        victoria, GONGZHI_INFLUX_SPOOL_MAX_BYTES=str(SPOOL_BOUND)))
    with running(sysm), DevicePublisher(broker.port) as publisher:
        stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
        planned = planned_points([m.payload for m in stream], [m.topic for m in stream])
        # A first part, until the gateway has given up its first write: from then on nothing is
        # in flight and the spool keeps strictly to its bound.
        publisher.publish(stream[:len(stream) // 10])
        wait_until(lambda: gateway_metric(sysm, "influx_write_failures_total") >= 1, 30,
                   "the first failed write")
        publisher.publish(stream[len(stream) // 10:])
        wait_until(lambda: stored_points(sysm.root / "telemetry.db") == TELEMETRY, 60,
                   "the gateway to take the whole stream")
        spool_bytes = gateway_metric(sysm, "spool_bytes")
        dropped_while_away = int(gateway_metric(sysm, "influx_points_dropped_total"))
        victoria.start()
        samples = settle_on_the_store(tally, sysm, publisher, victoria)
        tally.extra.update(bound_bytes=SPOOL_BOUND, spool_bytes_at_bound=int(spool_bytes))
        tally.report(record_property)
    assert 0 < spool_bytes <= SPOOL_BOUND
    assert dropped_while_away > 0 and tally.dropped == dropped_while_away, tally.line()
    assert tally.tickets == ALARMS == tally.alarms_published and tally.duplicates == 0
    assert tally.stored + tally.dropped == tally.telemetry_published == TELEMETRY, tally.line()
    assert len(samples) == len(set(samples)), "a point reached the store twice"
    # Oldest first: what reached the store is exactly the newest part of the stream.
    assert sorted(samples, key=lambda s: s[1]) == planned[-len(samples):]


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]  # user and password, if any
    netloc = f"{userinfo}@" if userinfo else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))


def test_ticket_database_unreachable_then_back(
        tmp_path: Path, broker: Broker, postgres_url: str, record_property: Reporter) -> None:
    """The platform on the real PostgreSQL, through a proxy the test cuts for a while (every
    connection reset, new ones refused: a database restart as the platform sees it; the shared
    server itself is never stopped). Alarms wait in the gateway's outbox and each becomes one
    ticket when the database is back."""
    tally = Tally("ticket_db_restart")
    pg = urlsplit(postgres_url)
    proxy = TcpProxy((pg.hostname or "127.0.0.1", pg.port or 5432))
    proxy.start()
    try:
        sysm = start_system(tmp_path / "sys", broker.url, platform_env={
            "GONGZHI_DATABASE_URL": via_proxy(postgres_url, proxy)})
        with running(sysm), DevicePublisher(broker.port) as publisher:
            stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
            publisher.publish_in_background(stream, pace_s=0.1)
            wait_until(lambda: publisher.alarms >= ALARMS // 4, 60, "a quarter of the alarms")
            proxy.cut()
            cut = time.monotonic()
            health: set[int] = set()
            while time.monotonic() - cut < OUTAGE_S:
                try:
                    health.add(httpx.get(f"{sysm.base}/healthz", timeout=5).status_code)
                except httpx.HTTPError:
                    health.add(0)
                time.sleep(0.5)
            waiting = int(gateway_metric(sysm, "alarms_pending"))
            proxy.restore()
            publisher.join()

            def read() -> None:
                tally.alarms_published = publisher.alarms
                tally.telemetry_published = publisher.telemetry
                tally.tickets, tally.duplicates = alarm_tickets_or_none(sysm)
                tally.stored = stored_points(sysm.root / "telemetry.db")
                tally.dropped = int(gateway_metric(sysm, "messages_rejected_total"))

            settle(tally, read, timeout_s=60)
            tally.extra.update(outage_s=OUTAGE_S, alarms_waiting=waiting,
                               health_during_outage="/".join(map(str, sorted(health))),
                               send_failures=int(gateway_metric(sysm,
                                                                "alarm_send_failures_total")))
            tally.report(record_property)
            assert sysm.services["platform"].alive(), sysm.logs()
    finally:
        proxy.stop()
    assert 503 in health, "the platform should say its store is unusable"
    assert waiting > 0, "alarms should have waited in the outbox"
    assert tally.tickets == ALARMS == tally.alarms_published and tally.duplicates == 0
    assert tally.stored == TELEMETRY and tally.dropped == 0, tally.line()


def alarm_tickets_or_none(sysm: System) -> tuple[int, int]:
    """Like ``alarm_tickets``, but (0, 0) while the platform cannot answer yet."""
    try:
        return alarm_tickets(sysm)
    except httpx.HTTPError:
        return 0, 0

