"""The InfluxDB path against a real server speaking InfluxDB's v2 write protocol
(VictoriaMetrics, started by the test on a free port): batches reach it with their tags, and an
outage (with a gateway restart in the middle) loses nothing and doubles nothing.

VictoriaMetrics runs with ``-dedup.minScrapeInterval=1ms``: a point is then identified by its series
and time, as in InfluxDB, where writing the same point again overwrites it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway_support import AlarmPeer, Publisher, make_records, wait_until

from gongzhi.core.broker import wait_for_port
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import Registry
from gongzhi.gateway.influx import InfluxSink
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.spool import Spool
from tests.conftest import free_port

pytestmark = pytest.mark.integration

VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


class Victoria:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [VICTORIA, f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.data}", "-dedup.minScrapeInterval=1ms",
             "-retentionPeriod=100y", "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, 10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def export(self) -> list[dict[str, Any]]:
        httpx.get(f"{self.url}/internal/force_flush", timeout=10)
        answer = httpx.post(f"{self.url}/api/v1/export",
                            data={"match[]": '{__name__=~"telemetry_.*"}'}, timeout=10)
        return [orjson.loads(line) for line in answer.text.splitlines() if line]

    def samples(self) -> list[tuple[str, str, int, float]]:
        """(metric, device, ts, value) of every stored sample, duplicates included."""
        return sorted((s["metric"]["__name__"], s["metric"]["device"], ts, v)
                      for s in self.export() for ts, v in zip(s["timestamps"], s["values"],
                                                              strict=True))


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[Victoria]:
    vm = Victoria(tmp_path / "vm-data")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def open_sink(vm: Victoria, spool_path: Path, metrics: GatewayMetrics) -> InfluxSink:
    spool = Spool(spool_path)
    spool.open()
    sink = InfluxSink(url=vm.url, token="unused", org="gongzhi", bucket="telemetry", spool=spool,
                      registry=Registry(make_records()), metrics=metrics, chunk_points=500,
                      probe_min_s=0.05, probe_max_s=0.5)
    sink.start()
    return sink


def close_sink(sink: InfluxSink) -> None:
    sink.close()
    sink.spool.close()


def batch(t0: int, start: int, count: int) -> list[Telemetry]:
    return [Telemetry("x1", "e1", DeviceType.ELECTRICAL, t0 + n,
                      {"current_a": float(n % 30), "voltage_v": 220.0 + n % 5}, t0 + n)
            for n in range(start, start + count)]


def test_tags_and_fields(victoria: Victoria, tmp_path: Path) -> None:
    sink = open_sink(victoria, tmp_path / "spool.db", GatewayMetrics())
    try:
        t0 = now_ms() - 60_000
        sink.write(batch(t0, 0, 3), t0)
        wait_until(lambda: len(victoria.samples()) == 6, what="six samples")
    finally:
        close_sink(sink)
    series = {s["metric"]["__name__"]: s for s in victoria.export()}
    assert set(series) == {"telemetry_current_a", "telemetry_voltage_v"}
    assert series["telemetry_current_a"]["metric"] == {
        "__name__": "telemetry_current_a", "estate": "e1", "building": "b1", "device": "x1",
        "type": "electrical"}
    assert series["telemetry_current_a"]["values"] == [0.0, 1.0, 2.0]
    assert series["telemetry_current_a"]["timestamps"] == [t0, t0 + 1, t0 + 2]


def test_outage_and_restart_lose_nothing_and_double_nothing(victoria: Victoria,
                                                            tmp_path: Path) -> None:
    metrics = GatewayMetrics()
    t0 = now_ms() - 600_000
    sink = open_sink(victoria, tmp_path / "spool.db", metrics)
    try:
        for k in range(5):
            sink.write(batch(t0, k * 200, 200), t0)
        wait_until(lambda: sink.spool.points == 0, what="the first batches sent")
        victoria.stop()
        for k in range(5, 10):
            sink.write(batch(t0, k * 200, 200), t0)
        wait_until(lambda: metrics.total("influx_write_failures_total") >= 1,
                   what="a failed write")
        assert sink.spool.points == 5 * 200 * 2 and sink.spool.bytes > 0
    finally:
        close_sink(sink)  # the gateway stops during the outage: the spool stays on disk
    sink = open_sink(victoria, tmp_path / "spool.db", metrics)
    try:
        assert sink.spool.points == 2000
        sink.write(batch(t0, 2000, 200), t0)
        victoria.start()
        wait_until(lambda: sink.spool.points == 0, timeout_s=60, what="the spool replayed")
    finally:
        close_sink(sink)
    expected = sorted(
        [("telemetry_current_a", "x1", t0 + n, float(n % 30)) for n in range(2200)]
        + [("telemetry_voltage_v", "x1", t0 + n, 220.0 + n % 5) for n in range(2200)])
    wait_until(lambda: len(victoria.samples()) >= len(expected), what="every sample visible")
    assert victoria.samples() == expected
    assert metrics.total("influx_points_written_total") == 4400  # each confirmed once


def test_gateway_writes_influx_and_shows_its_spool(
        start_gateway: Callable[..., GatewayService], victoria: Victoria, publisher: Publisher,
        peer: AlarmPeer) -> None:
    gw = start_gateway(influx_url=victoria.url, influx_token="t")
    t0 = now_ms() - 60_000
    victoria.stop()
    for n in range(50):
        publisher.publish("estate/e1/w1/telemetry",
                          {"ts": t0 + n, "seq": n, "values": {"pressure_mpa": 0.3}})
    wait_until(lambda: gw.metrics.total("messages_processed_total") == 50)
    assert gw.http is not None

    def spool_points() -> float:
        text = httpx.get(f"http://127.0.0.1:{gw.http.port}/metrics").text  # type: ignore[union-attr]
        line = next(ln for ln in text.splitlines() if ln.startswith("gongzhi_gateway_spool_points"))
        return float(line.split()[1])

    assert spool_points() == 50
    victoria.start()
    wait_until(lambda: spool_points() == 0, timeout_s=60, what="the spool drained")
    wait_until(lambda: len(victoria.samples()) == 50, what="fifty samples")
