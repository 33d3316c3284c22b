"""The InfluxDB reader against a loopback HTTP server that answers Flux queries with annotated CSV
as InfluxDB 2 does: a unit test of the queries the reader sends and of how it reads the answers
(no InfluxDB runs here; the real client library does the HTTP and the CSV parsing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import StoreUnavailable
from gongzhi.core.settings import Settings
from gongzhi.hub.app import create_app
from gongzhi.telemetry.embedded import EmbeddedReader
from gongzhi.telemetry.influx import InfluxReader, flux_string
from gongzhi.telemetry.reader import open_reader
from tests.conftest import free_port
from tests.pages.pages_support import make_platform
from tests.telemetry.flux_support import FluxPeer

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

HEADER = ("#datatype,string,long,dateTime:RFC3339,double\r\n"
          "#group,false,false,false,false\r\n"
          "#default,_result,,,\r\n"
          ",result,table,_time,_value\r\n")


@pytest.fixture
def peer() -> Iterator[FluxPeer]:
    with FluxPeer() as p:
        yield p


@pytest.fixture
def reader(peer: FluxPeer) -> Iterator[InfluxReader]:
    with InfluxReader(url=peer.url, token="t0ken", org="estate-org",
                      bucket="telemetry") as r:
        yield r


def test_series_sends_one_windowed_flux_query_and_reads_the_csv(
        peer: FluxPeer, reader: InfluxReader) -> None:
    # Two tables (two series of the device, e.g. before and after a tag changed), out of order.
    peer.answer = (200, HEADER + ",,0,2026-01-01T00:10:00Z,0.29\r\n"
                   + ",,1,2026-01-01T00:00:00.250Z,0.31\r\n\r\n")
    points = reader.series("wp-3", "pressure_mpa", T0, T0 + 3_600_000 - 1, max_points=60)
    assert points == [(T0 + 250, 0.31), (T0 + 600_000, 0.29)]
    (query,) = peer.queries
    assert "org=estate-org" in peer.paths[0]
    assert 'from(bucket: "telemetry")' in query
    stop_ns = (T0 + 3_600_000) * 1_000_000
    assert f"range(start: time(v: {T0 * 1_000_000}), stop: time(v: {stop_ns}))" in query
    assert ('r._measurement == "telemetry" and r.device == "wp-3" and '
            'r._field == "pressure_mpa"') in query
    # An hour in at most 60 windows: one a minute.
    assert "aggregateWindow(every: 60000ms, offset: 0ms, fn: mean" in query


def test_latest_asks_for_the_last_point_since(peer: FluxPeer, reader: InfluxReader) -> None:
    peer.answer = (200, HEADER + ",,0,2026-01-01T00:59:50Z,412.5\r\n\r\n")
    assert reader.latest("el-1-2-3", "residual_ma", T0) == (T0 + 3_590_000, 412.5)
    assert f"range(start: time(v: {T0 * 1_000_000}))" in peer.queries[0]
    assert "|> last()" in peer.queries[0]
    peer.answer = (200, "\r\n")  # what InfluxDB answers when nothing matched
    assert reader.latest("el-1-2-3", "residual_ma", T0) is None
    assert reader.series("el-1-2-3", "residual_ma", T0, T0 + 1000) == []


def test_strings_cannot_change_the_query(peer: FluxPeer, reader: InfluxReader) -> None:
    evil = 'x" or r.device != "${y}\\'
    assert reader.latest(evil, "residual_ma") is None
    assert f"r.device == {flux_string(evil)}" in peer.queries[0]
    assert flux_string(evil) == '"x\\" or r.device != \\"\\${y}\\\\"'


def test_a_refusing_or_absent_server_is_unavailable(peer: FluxPeer,
                                                    reader: InfluxReader) -> None:
    peer.answer = (400, '{"code":"invalid","message":"compilation failed"}')
    with pytest.raises(StoreUnavailable, match=r"refused a telemetry query \(HTTP 400\)"):
        reader.series("wp-3", "pressure_mpa", T0, T0 + 1000)
    absent = InfluxReader(url=f"http://127.0.0.1:{free_port()}", token=None, org="o",
                          bucket="b", timeout_ms=2_000)
    with absent, pytest.raises(StoreUnavailable, match="cannot reach InfluxDB"):
        absent.latest("wp-3", "pressure_mpa")


def test_the_settings_pick_the_reader(tmp_path: Path) -> None:
    with open_reader(Settings(data_dir=tmp_path)) as embedded:
        assert isinstance(embedded, EmbeddedReader)
        assert embedded.path == tmp_path / "telemetry.db"
        assert embedded.latest("wp-3", "pressure_mpa") is None  # no gateway has written yet
    with open_reader(Settings(data_dir=tmp_path, influx_url="http://127.0.0.1:1")) as influx:
        assert isinstance(influx, InfluxReader)


def test_the_platforms_trends_read_influxdb_when_its_settings_name_it(
        tmp_path: Path, peer: FluxPeer) -> None:
    """The embedded store of this platform's data directory holds other values: the answers
    come from InfluxDB (every leakage query answered with 412.5 mA five minutes ago)."""
    clock = ManualClock(T0 + 3_600_000)
    platform = make_platform(tmp_path / "platform", clock)
    settings = platform.settings.model_copy(update={"influx_url": peer.url,
                                                    "influx_token": "t0ken"})
    peer.answer = (200, HEADER + ",,0,2026-01-01T00:55:00Z,412.5\r\n\r\n")
    with TestClient(create_app(settings, clock, background=False)) as client:
        office = platform.auth("property_office")
        leakage = client.get("/api/trends/leakage", headers=office, params={"top": 3})
        assert leakage.status_code == 200
        items = leakage.json()["items"]
        assert len(items) == 3 and {(i["value"], i["ts_ms"]) for i in items} == {
            (412.5, T0 + 3_300_000)}
        assert all('r._field == "residual_ma"' in q and "last()" in q for q in peer.queries)
        assert f"time(v: {T0 * 1_000_000})" in peer.queries[0]  # the last hour only
        peer.answer = (500, '{"code":"internal error","message":"down"}')
        assert client.get("/api/trends/pressure", headers=office).status_code == 503
