"""Faults of the processes, each in the middle of a known stream through the real system
(a private Mosquitto configured like the deployment's, `gongzhi gateway`, `gongzhi platform`):
the broker restarts, the gateway is killed with SIGKILL, the platform is killed with SIGKILL, the
platform answers slowly while the gateway is stalled under a burst. At the end every alarm is
one ticket and every reading is stored once; each test prints its counts."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from chaos_proxy import TcpProxy
from chaos_support import (
    DevicePublisher,
    Tally,
    counter,
    gateway_metric,
    now_ms,
    persistent_broker,
    planned_stream,
    running,
    settle,
    start_gateway,
    start_platform,
    start_system,
)
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import Broker
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.integration

ALARMS = 40
TELEMETRY = 2000
Reporter = Callable[[str, object], None]


@pytest.fixture
def deployment_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with persistence, as deploy/mosquitto/mosquitto.conf has it: a restart keeps the
    gateway's persistent session and the messages queued for it. ``$SYS`` every second."""
    with persistent_broker(tmp_path, "sys_interval 1\n") as broker:
        yield broker


def check(tally: Tally) -> None:
    assert tally.alarms_published == ALARMS and tally.telemetry_published == TELEMETRY
    assert tally.tickets == tally.alarms_published, tally.line()
    assert tally.duplicates == 0, tally.line()
    assert tally.dropped == 0 and tally.stored == tally.telemetry_published, tally.line()


def stream_a_third(publisher: DevicePublisher) -> int:
    """Start the known stream in the background; return its length once a third is out."""
    stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
    publisher.publish_in_background(stream, pace_s=0.05)
    wait_until(lambda: publisher.published_so_far() >= len(stream) // 3, 60,
               "a third of the stream")
    return len(stream)


def test_broker_restart_mid_stream(tmp_path: Path, deployment_broker: Broker,
                                   record_property: Reporter) -> None:
    tally = Tally("broker_restart")
    with running(start_system(tmp_path / "sys", deployment_broker.url)) as sysm, \
            DevicePublisher(deployment_broker.port) as publisher:
        stream_a_third(publisher)
        deployment_broker.restart()
        tally.extra["restarted_after"] = publisher.published_so_far()
        publisher.join()
        sysm.wait_subscribed()
        settle(tally, counter(sysm, tally, publisher), timeout_s=60)
        tally.extra["gateway_duplicates_dropped"] = int(gateway_metric(sysm, "duplicates_total"))
        tally.report(record_property)
    check(tally)


def test_gateway_kill_9_and_restart(tmp_path: Path, deployment_broker: Broker,
                                    record_property: Reporter) -> None:
    """Persistent session and acknowledgement after commit: what the gateway had taken but not
    committed when it died comes again; what devices sent while it was down waits at the
    broker."""
    tally = Tally("gateway_kill_9")
    with running(start_system(tmp_path / "sys", deployment_broker.url)) as sysm, \
            DevicePublisher(deployment_broker.port) as publisher:
        length = stream_a_third(publisher)
        sysm.services["gateway"].kill()
        tally.extra["killed_after"] = publisher.published_so_far()
        wait_until(lambda: publisher.published_so_far() >= 2 * length // 3, 60,
                   "two thirds of the stream, the gateway down")
        start_gateway(sysm)
        publisher.join()
        settle(tally, counter(sysm, tally, publisher), timeout_s=60)
        tally.report(record_property)
    check(tally)


def test_platform_kill_9_and_restart(tmp_path: Path, deployment_broker: Broker,
                                     record_property: Reporter) -> None:
    """The gateway's outbox keeps the alarms while the platform is gone; each becomes one
    ticket when it is back (the platform is idempotent by alarm id)."""
    tally = Tally("platform_kill_9")
    with running(start_system(tmp_path / "sys", deployment_broker.url)) as sysm, \
            DevicePublisher(deployment_broker.port) as publisher:
        platform = sysm.services["platform"]
        stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
        publisher.publish_in_background(stream, pace_s=0.05)
        wait_until(lambda: publisher.alarms >= ALARMS // 4, 60, "a quarter of the alarms")
        platform.kill()
        tally.extra["killed_after_alarms"] = publisher.alarms
        wait_until(lambda: publisher.alarms >= 3 * ALARMS // 4, 60,
                   "three quarters of the alarms, the platform down")
        tally.extra["alarms_waiting"] = int(gateway_metric(sysm, "alarms_pending"))
        platform.start()
        sysm.wait_healthy(f"{sysm.base}/healthz", timeout=60)
        publisher.join()
        settle(tally, counter(sysm, tally, publisher), timeout_s=60)
        tally.report(record_property)
    assert tally.extra["alarms_waiting"] > 0, "the outage should have held alarms back"
    check(tally)


class QueueWatch:
    """Follows the broker's ``$SYS`` count of stored messages (what it holds for subscribers
    that have not taken them yet)."""

    TOPIC = "$SYS/broker/store/messages/count"

    def __init__(self, port: int) -> None:
        self.peak = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="chaos-sys-watch")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(self.TOPIC)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        self.peak = max(self.peak, int(msg.payload or b"0"))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_slow_platform_and_stalled_gateway_under_a_burst(
        tmp_path: Path, deployment_broker: Broker, record_property: Reporter) -> None:
    """The platform answers every request 0.1 s late (a proxy holds its answers back) and the
    gateway is stopped (SIGSTOP) for 5 s while devices publish a burst as fast as the broker
    takes it: the broker queues for the gateway, the gateway's lag and alarm backlog show it,
    nothing is lost."""
    tally = Tally("slow_consumer")
    proxy = TcpProxy(("127.0.0.1", 0), delay_s=0.1)
    proxy.start()
    watch = QueueWatch(deployment_broker.port)
    sysm = start_system(tmp_path / "sys", deployment_broker.url, start=False, gateway_env={
        "GONGZHI_PLATFORM_URL": f"http://127.0.0.1:{proxy.port}"})
    proxy.upstream = ("127.0.0.1", sysm.http_port)
    try:
        with running(sysm), DevicePublisher(deployment_broker.port, window=500) as publisher:
            start_platform(sysm)
            start_gateway(sysm)
            gateway = sysm.services["gateway"]
            assert gateway.proc is not None
            stalled = time.monotonic()
            gateway.proc.send_signal(signal.SIGSTOP)
            try:
                stream = planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000)
                publisher.publish(stream)
                burst_s = time.monotonic() - stalled
                time.sleep(max(1.5, 5.0 - burst_s))  # 5 s stalled; $SYS reports every second
            finally:
                gateway.proc.send_signal(signal.SIGCONT)
            peaks = {"queue_depth": 0.0, "queue_lag_seconds": 0.0, "alarms_pending": 0.0}
            read = counter(sysm, tally, publisher)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for name in peaks:
                    peaks[name] = max(peaks[name], gateway_metric(sysm, name))
                read()
                if tally.balanced():
                    break
                time.sleep(0.05)
            settle(tally, read, timeout_s=5)
            tally.extra.update(burst_msgs_per_s=round(len(stream) / burst_s),
                               broker_queue_peak=watch.peak,
                               gateway_queue_peak=int(peaks["queue_depth"]),
                               gateway_lag_peak_s=round(peaks["queue_lag_seconds"], 2),
                               alarms_pending_peak=int(peaks["alarms_pending"]))
            tally.report(record_property)
    finally:
        watch.close()
        proxy.stop()
    assert watch.peak >= TELEMETRY // 2, "the broker should have held the burst for the gateway"
    assert peaks["alarms_pending"] > 0, "the slow platform should have left alarms waiting"
    check(tally)
