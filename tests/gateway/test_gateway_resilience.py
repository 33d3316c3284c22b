"""Nothing is lost when things fail: the platform goes away mid-stream, the broker restarts, the
gateway is stopped while devices keep publishing, the gateway process is killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import AlarmPeer, Publisher, gateway_settings, wait_until, write_test_registry

from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader
from tests.conftest import Broker, free_port, make_broker

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def tamper(publisher: Publisher, device: str, seq: int, t0: int) -> None:
    publisher.publish(f"estate/e1/{device}/event",
                      {"ts": t0 + seq, "seq": seq, "event": "tamper"})


def tamper_ids(peer: AlarmPeer) -> set[tuple[str, int]]:
    return {(a["device_id"], a["ts_ms"]) for a in list(peer.alarms.values())
            if a["kind"] == "tamper"}


def test_platform_outage_mid_stream_loses_no_alarm(
        start_gateway: Callable[..., GatewayService], publisher: Publisher,
        peer: AlarmPeer) -> None:
    gw = start_gateway()
    t0 = now_ms() - 10_000
    for seq in range(10):
        tamper(publisher, "s1", seq, t0)
    wait_until(lambda: len(tamper_ids(peer)) == 10, what="alarms before the outage")
    peer.down()
    for seq in range(10, 30):
        tamper(publisher, "s1", seq, t0)
    wait_until(lambda: gw.outbox.counts()["pending"] == 20, what="alarms held in the outbox")
    assert gw.http is not None
    text = httpx.get(f"http://127.0.0.1:{gw.http.port}/metrics").text
    assert "gongzhi_gateway_alarms_pending 20" in text
    peer.up()
    for seq in range(30, 35):
        tamper(publisher, "s1", seq, t0)
    wait_until(lambda: len(tamper_ids(peer)) == 35, timeout_s=30, what="every alarm")
    assert tamper_ids(peer) == {("s1", t0 + seq) for seq in range(35)}
    wait_until(lambda: gw.outbox.counts() == {"pending": 0, "sent": 35, "dead": 0})


@pytest.fixture
def broker_store() -> Iterator[Path]:
    """A directory Mosquitto can write even after dropping root for its own user (pytest's
    tmp_path is private to the test user)."""
    store = Path(tempfile.mkdtemp(prefix="gongzhi-broker-"))
    store.chmod(0o777)
    try:
        yield store
    finally:
        shutil.rmtree(store, ignore_errors=True)


def test_broker_restart_with_a_stopped_gateway_delivers_the_queued_messages(
        tmp_path: Path, data_dir: Path, peer: AlarmPeer, broker_store: Path) -> None:
    """Persistent session: what devices publish while the gateway is down (and the broker
    restarts meanwhile, from its persistence file) arrives when the gateway is back."""
    write_test_registry(data_dir / "registry.csv")
    store = broker_store
    broker = make_broker(tmp_path, extra=f"persistence true\npersistence_location {store}/\n")
    broker.start()
    gw: GatewayService | None = None
    publisher: Publisher | None = None
    try:
        settings = gateway_settings(data_dir, broker.url, peer.url)
        gw = GatewayService(settings)
        gw.start()
        assert gw.wait_connected(10)
        publisher = Publisher(broker.port)
        t0 = now_ms() - 10_000
        tamper(publisher, "s1", 0, t0)
        wait_until(lambda: len(tamper_ids(peer)) == 1)
        gw.stop()
        for seq in range(1, 6):
            tamper(publisher, "s1", seq, t0)
        publisher.close()
        publisher = None
        broker.restart()
        gw = GatewayService(settings)
        gw.start()
        assert gw.wait_connected(10)
        publisher = Publisher(broker.port)
        tamper(publisher, "s1", 6, t0)
        wait_until(lambda: len(tamper_ids(peer)) == 7, what="queued and new alarms")
        assert tamper_ids(peer) == {("s1", t0 + seq) for seq in range(7)}
    finally:
        if publisher is not None:
            publisher.close()
        if gw is not None:
            gw.stop()
        broker.stop()


def test_broker_restart_under_a_running_gateway(
        start_gateway: Callable[..., GatewayService], broker: Broker, peer: AlarmPeer) -> None:
    gw = start_gateway()
    t0 = now_ms() - 10_000
    publisher = Publisher(broker.port)
    tamper(publisher, "s1", 0, t0)
    publisher.close()
    wait_until(lambda: len(tamper_ids(peer)) == 1)
    broker.restart()
    wait_until(lambda: gw.metrics.total("mqtt_connects_total") == 2 and gw.wait_connected(0),
               timeout_s=30, what="the gateway reconnecting")
    publisher = Publisher(broker.port)
    try:
        tamper(publisher, "s1", 1, t0)
        wait_until(lambda: len(tamper_ids(peer)) == 2, what="an alarm after the restart")
    finally:
        publisher.close()


# --- SIGKILL of the gateway process ------------------------------------------------------

DEVICES = [(f"s{i}", "smoke", "e1", f"b{i % 3}", False) for i in range(50)]


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["GONGZHI_GATEWAY_HTTP_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gongzhi.core.cli", "gateway"],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self.subscribed, timeout_s=30, what="the gateway process to subscribe")

    def subscribed(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz",
                             timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(f"gongzhi_gateway_{name} "):
                return float(line.split()[1])
        raise KeyError(name)

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def kill_if_running(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def gateway_process(data_dir: Path, broker: Broker, peer: AlarmPeer,
                    tmp_path: Path) -> Iterator[GatewayProcess]:
    write_test_registry(data_dir / "registry.csv", DEVICES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update({"GONGZHI_DATA_DIR": str(data_dir), "GONGZHI_MQTT_URL": broker.url,
                "GONGZHI_PLATFORM_URL": peer.url, "GONGZHI_GATEWAY_TOKEN": "t",
                "GONGZHI_GATEWAY_HTTP_PORT": str(free_port()), "GONGZHI_LOG_LEVEL": "WARNING"})
    process = GatewayProcess(env, tmp_path / "gateway.log")
    try:
        yield process
    finally:
        process.kill_if_running()


def test_kill_9_mid_stream_loses_no_alarm_and_no_telemetry(
        gateway_process: GatewayProcess, broker: Broker, peer: AlarmPeer,
        data_dir: Path) -> None:
    gateway_process.start()
    publisher = Publisher(broker.port)
    t0 = now_ms() - 600_000
    total, events = 3000, set()
    try:
        for n in range(total):
            device = f"s{n % 50}"
            if n % 10 == 9:
                publisher.publish(f"estate/e1/{device}/event",
                                  {"ts": t0 + n, "seq": n, "event": "tamper"})
                events.add((device, t0 + n))
            else:
                publisher.publish(f"estate/e1/{device}/telemetry",
                                  {"ts": t0 + n, "seq": n, "values": {"temp_c": 20 + n % 7}})
            if n == total // 2:
                wait_until(lambda: gateway_process.metric("messages_processed_total") > 300)
                gateway_process.signal(signal.SIGKILL)
        gateway_process.start()
        wait_until(lambda: len(tamper_ids(peer)) == len(events), timeout_s=60,
                   what="every alarm after the restart")
    finally:
        publisher.close()
    assert tamper_ids(peer) == events
    assert gateway_process.signal(signal.SIGTERM) == 0  # a clean stop
    with EmbeddedReader(data_dir / "telemetry.db") as reader:
        stored = sum(len(reader.series(f"s{i}", "temp_c", t0, t0 + total, max_points=total))
                     for i in range(50))
    assert stored == total - len(events)
