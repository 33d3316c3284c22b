"""The queries the platform's trends need of recorded telemetry, and the reader the settings pick.

``series`` answers ``(ts_ms, value)`` pairs in time order (raw points when there are few, else at
most ``max_points`` averages over equal time buckets); ``latest`` the newest value of a metric at
or after ``since_ms``. A store that does not exist yet answers nothing; one that cannot be reached
raises ``StoreUnavailable`` (HTTP 503 at the platform)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from gongzhi.core.settings import Settings


class TelemetryReader(Protocol):
    def series(self, device_id: str, metric: str, since_ms: int, until_ms: int,
               max_points: int = 500) -> list[tuple[int, float]]: ...

    def latest(self, device_id: str, metric: str,
               since_ms: int = 0) -> tuple[int, float] | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> TelemetryReader: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class ClosingReader:
    """``with reader:`` closes the reader at the end of the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_reader(settings: Settings) -> TelemetryReader:
    """InfluxDB when the settings name one (``GONGZHI_INFLUX_URL``), else the embedded store in
    the data directory. Opens no connection: the first query does."""
    if settings.influx_url:
        from gongzhi.telemetry.influx import InfluxReader  # only when InfluxDB is configured

        return InfluxReader(url=settings.influx_url, token=settings.influx_token,
                            org=settings.influx_org, bucket=settings.influx_bucket)
    from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path

    return EmbeddedReader(telemetry_db_path(settings))
