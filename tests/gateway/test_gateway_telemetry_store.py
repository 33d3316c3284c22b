"""The embedded telemetry store: idempotent writes, merge, downsampling, retention, and a reader
in another process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gongzhi.devices.catalogue import DeviceType
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.telemetry.embedded import DAY_MS, EmbeddedReader

T0 = 1_767_225_600_000  # midnight UTC


def point(ts: int, device: str = "w1", **values: float) -> Telemetry:
    return Telemetry(device, "e1", DeviceType.WATER_PRESSURE, ts, values or {"pressure_mpa": 0.3},
                     ts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    s = TelemetryStore(tmp_path / "telemetry.db")
    s.open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def reader(store: TelemetryStore) -> Iterator[EmbeddedReader]:
    with EmbeddedReader(store.path) as r:
        yield r


def test_series_and_latest(store: TelemetryStore, reader: EmbeddedReader) -> None:
    batch = [point(T0 + i * 1000, pressure_mpa=0.3 + i / 100) for i in range(10)]
    assert store.write(batch, T0) == 10
    assert reader.series("w1", "pressure_mpa", T0, T0 + 9000) == [
        (T0 + i * 1000, pytest.approx(0.3 + i / 100)) for i in range(10)]
    assert reader.latest("w1", "pressure_mpa") == (T0 + 9000, pytest.approx(0.39))
    assert reader.latest("w1", "temp_c") is None
    assert reader.series("other", "pressure_mpa", T0, T0 + 9000) == []


def test_rewrite_is_idempotent_and_metrics_merge(store: TelemetryStore,
                                                 reader: EmbeddedReader) -> None:
    store.write([point(T0, "x1", current_a=5.0)], T0)
    store.write([point(T0, "x1", current_a=5.0)], T0)  # redelivered after a crash
    store.write([point(T0, "x1", voltage_v=220.0)], T0)  # same instant, another metric
    assert reader.series("x1", "current_a", T0 - 1, T0 + 1) == [(T0, 5.0)]
    assert reader.latest_values("x1") == {"current_a": (T0, 5.0), "voltage_v": (T0, 220.0)}


def test_long_ranges_are_downsampled_across_days(store: TelemetryStore,
                                                 reader: EmbeddedReader) -> None:
    # Three days at one point a minute, value = the minute index.
    minutes = 3 * 24 * 60
    store.write([point(T0 + m * 60_000, pressure_mpa=float(m % 2)) for m in range(minutes)],
                T0 + 3 * DAY_MS)
    out = reader.series("w1", "pressure_mpa", T0, T0 + 3 * DAY_MS - 1, max_points=72)
    assert len(out) == 72  # hourly buckets
    assert all(v == pytest.approx(0.5) for _, v in out)  # the mean of 0,1,0,1...
    assert [ts for ts, _ in out] == sorted(ts for ts, _ in out)
    assert out[0][0] == T0 + 1_770_000  # mean time of the first hour's points


def test_retention_drops_old_days_and_refuses_expired_points(store: TelemetryStore,
                                                             reader: EmbeddedReader) -> None:
    for day in range(10):
        store.write([point(T0 + day * DAY_MS)], T0 + day * DAY_MS)
    assert store.prune(T0 + 10 * DAY_MS) == 2  # days 0 and 1 are older than 8 days
    assert reader.series("w1", "pressure_mpa", T0, T0 + 2 * DAY_MS) == [(T0 + 2 * DAY_MS, 0.3)]
    assert store.write([point(T0)], T0 + 10 * DAY_MS) == 0


def test_reader_in_another_process(store: TelemetryStore) -> None:
    store.write([point(T0 + i, pressure_mpa=0.5) for i in range(3)], T0)
    code = ("import sys; from pathlib import Path; "
            "from gongzhi.telemetry.embedded import EmbeddedReader; "
            "r = EmbeddedReader(Path(sys.argv[1])); "
            f"print(r.series('w1', 'pressure_mpa', {T0}, {T0 + 10})); r.close()")
    out = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == str([(T0, 0.5), (T0 + 1, 0.5), (T0 + 2, 0.5)])


def test_reader_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    with EmbeddedReader(tmp_path / "none.db") as r:
        assert r.series("w1", "pressure_mpa", 0, T0) == []
        assert r.latest("w1", "pressure_mpa") is None
