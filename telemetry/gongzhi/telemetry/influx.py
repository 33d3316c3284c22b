"""Telemetry read from InfluxDB 2 with Flux, in the layout the gateway writes (measurement
``telemetry``, tag ``device``, one field per metric; see ``gongzhi.gateway.line_protocol``).

Each query is one HTTP request through influxdb-client's query API; the client is made at the
first query, not in the constructor. Strings put into a query are escaped as Flux string
literals, so a device id or metric cannot change the query. An unreachable server or a refused
query raises ``StoreUnavailable``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client.client.flux_table import TableList
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from gongzhi.core.errors import StoreUnavailable
from gongzhi.telemetry.reader import ClosingReader

MEASUREMENT = "telemetry"
TIMEOUT_MS = 10_000
LAST_MS = 9_000_000_000_000  # 2255: Flux times are int64 nanoseconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def flux_string(text: str) -> str:
    """``text`` as a Flux string literal (quotes, backslashes and ``${`` escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _time(ms: int) -> str:
    return f"time(v: {ms * 1_000_000})"


class InfluxReader(ClosingReader):
    def __init__(self, *, url: str, token: str | None, org: str, bucket: str,
                 timeout_ms: int = TIMEOUT_MS) -> None:
        self._url, self._token, self._org, self._bucket = url, token, org, bucket
        self._timeout_ms = timeout_ms
        self._client: InfluxDBClient | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    def _select(self, device_id: str, metric: str, since_ms: int, until_ms: int | None) -> str:
        stop = "" if until_ms is None else f", stop: {_time(until_ms + 1)}"
        return (f"from(bucket: {flux_string(self._bucket)})\n"
                f"  |> range(start: {_time(since_ms)}{stop})\n"
                f"  |> filter(fn: (r) => r._measurement == {flux_string(MEASUREMENT)} and "
                f"r.device == {flux_string(device_id)} and r._field == {flux_string(metric)})\n"
                "  |> group()\n"
                '  |> sort(columns: ["_time"])\n')

    def series(self, device_id: str, metric: str, since_ms: int, until_ms: int,
               max_points: int = 500) -> list[tuple[int, float]]:
        """At most ``max_points`` means over equal windows (aligned to ``since_ms``, each stamped
        with its start), in time order."""
        if until_ms < since_ms or max_points < 1:
            return []
        step = max(1, -(-(until_ms - since_ms + 1) // max_points))
        query = (self._select(device_id, metric, since_ms, until_ms)
                 + f"  |> aggregateWindow(every: {step}ms, offset: {since_ms % step}ms, "
                   'fn: mean, createEmpty: false, timeSrc: "_start")\n'
                 + '  |> keep(columns: ["_time", "_value"])')
        return self._points(query)

    def latest(self, device_id: str, metric: str,
               since_ms: int = 0) -> tuple[int, float] | None:
        query = (self._select(device_id, metric, since_ms, None)
                 + '  |> last()\n  |> keep(columns: ["_time", "_value"])')
        points = self._points(query)
        return points[-1] if points else None

    def rows(self, device_id: str, since_ms: int,
             until_ms: int) -> list[tuple[int, dict[str, float]]]:
        """Every point of the device from ``since_ms`` to before ``until_ms``, as stored: one
        row per time, with the metrics reported then, in time order."""
        query = (f"from(bucket: {flux_string(self._bucket)})\n"
                 f"  |> range(start: {_time(since_ms)}, stop: {_time(min(until_ms, LAST_MS))})\n"
                 f"  |> filter(fn: (r) => r._measurement == {flux_string(MEASUREMENT)} and "
                 f"r.device == {flux_string(device_id)})\n"
                 '  |> keep(columns: ["_time", "_field", "_value"])')
        by_time: dict[int, dict[str, float]] = {}
        for row in self._records(query):
            if row.get("_value") is not None:
                at = (row["_time"] - _EPOCH) // _MS
                by_time.setdefault(at, {})[str(row["_field"])] = float(row["_value"])
        return sorted(by_time.items())

    def _points(self, query: str) -> list[tuple[int, float]]:
        points = [((row["_time"] - _EPOCH) // _MS, float(row["_value"]))
                  for row in self._records(query) if row.get("_value") is not None]
        points.sort()
        return points

    def _records(self, query: str) -> list[dict[str, Any]]:
        if self._client is None:
            self._client = InfluxDBClient(url=self._url, token=self._token or "",
                                          org=self._org, timeout=self._timeout_ms)
        try:
            tables: TableList = self._client.query_api().query(query, org=self._org)
        except ApiException as exc:
            raise StoreUnavailable(f"InfluxDB at {self._url} refused a telemetry query "
                                   f"(HTTP {exc.status}): {exc.reason}") from None
        except (HTTPError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach InfluxDB at {self._url}: {exc}") from None
        return [record.values for table in tables for record in table.records]
