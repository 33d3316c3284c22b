"""The embedded telemetry store: SQLite (WAL) in the data directory, one table per UTC day.

A row is one message: ``(device_id, ts_ms, values-as-JSON)``, appended in arrival order (cheap:
the rows of a batch share pages) and unique by (device, ts) through an index, so writing the same
message twice (a redelivery after a crash) changes nothing and a device's range is one index scan.
Day tables make retention a ``DROP TABLE`` (default: 8 days kept, at least the 7 the platform's
trends need). Points older than the retention window when they arrive are not stored (counted
by the caller).

``TelemetryReader`` opens the file read-only, so another process (the platform) can read trends
while the gateway writes; long ranges are downsampled to at most ``max_points`` bucket averages.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import orjson

from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.sqlite import open_db, open_readonly

DAY_MS = 86_400_000
DEFAULT_RETENTION_DAYS = 8
CACHE_KIB = 65_536
_TABLE = re.compile(r"points_(\d+)")


def _table(day: int) -> str:
    return f"points_{day}"


class TelemetryStore:
    """Writer side. ``open()`` creates the file; ``write()`` commits a batch in one transaction."""

    def __init__(self, path: Path, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.path = path
        self.retention_ms = retention_days * DAY_MS
        self._conn: sqlite3.Connection | None = None
        self._tables: set[int] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        self._conn = open_db(self.path)
        # Index pages are touched all over at every batch: keep them cached, checkpoint seldom.
        self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._tables = set(_day_tables(self._conn))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        """Store the batch; returns the number of points stored (expired ones are skipped)."""
        conn = self._require()
        cutoff = now_ms - self.retention_ms
        rows: dict[int, list[tuple[str, int, bytes]]] = {}
        points = 0
        for message in batch:
            if message.ts_ms < cutoff:
                continue
            rows.setdefault(message.ts_ms // DAY_MS, []).append(
                (message.device_id, message.ts_ms, orjson.dumps(message.values)))
            points += len(message.values)
        if not rows:
            return 0
        with self._lock:
            conn.execute("BEGIN")
            try:
                for day, day_rows in rows.items():
                    if day not in self._tables:
                        conn.execute(
                            f"CREATE TABLE IF NOT EXISTS {_table(day)} (device_id TEXT NOT NULL, "
                            "ts_ms INTEGER NOT NULL, v TEXT NOT NULL)")
                        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {_table(day)}_key ON "
                                     f"{_table(day)} (device_id, ts_ms)")
                        self._tables.add(day)
                    conn.executemany(
                        f"INSERT INTO {_table(day)} (device_id, ts_ms, v) VALUES (?, ?, ?) "
                        "ON CONFLICT (device_id, ts_ms) DO UPDATE "
                        "SET v = json_patch(v, excluded.v)",
                        day_rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return points

    def prune(self, now_ms: int) -> int:
        """Drop the day tables wholly older than the retention window; returns how many."""
        conn = self._require()
        oldest_kept = (now_ms - self.retention_ms) // DAY_MS
        dropped = 0
        with self._lock:
            for day in sorted(self._tables):
                if day < oldest_kept:
                    conn.execute(f"DROP TABLE IF EXISTS {_table(day)}")
                    self._tables.discard(day)
                    dropped += 1
        return dropped

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("TelemetryStore is not open")
        return self._conn


def _day_tables(conn: sqlite3.Connection) -> list[int]:
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(int(m.group(1)) for (name,) in names if (m := _TABLE.fullmatch(name)))


class TelemetryReader:
    """Read side, safe to use from another process while the gateway writes.

    ``series`` returns ``(ts_ms, value)`` pairs in time order: raw points when there are few, else
    at most ``max_points`` averages over equal time buckets (each stamped with the mean time of
    its points)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> TelemetryReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is None and self.path.exists():
            self._conn = open_readonly(self.path)
        return self._conn

    def series(self, device_id: str, metric: str, since_ms: int, until_ms: int,
               max_points: int = 500) -> list[tuple[int, float]]:
        if until_ms < since_ms or max_points < 1:
            return []
        with self._lock:
            conn = self._connection()
            if conn is None:
                return []
            days = [d for d in _day_tables(conn)
                    if since_ms // DAY_MS <= d <= until_ms // DAY_MS]
            if not days:
                return []
            step = max(1, -(-(until_ms - since_ms + 1) // max_points))
            union = " UNION ALL ".join(
                f"SELECT ts_ms, json_extract(v, ?) AS x FROM {_table(d)} "
                "WHERE device_id = ? AND ts_ms BETWEEN ? AND ?" for d in days)
            params: list[object] = []
            for _ in days:
                params += [_path(metric), device_id, since_ms, until_ms]
            rows = conn.execute(
                f"SELECT CAST(avg(ts_ms) AS INTEGER), avg(x) FROM ({union}) WHERE x IS NOT NULL "
                "GROUP BY (ts_ms - ?) / ? ORDER BY 1", [*params, since_ms, step]).fetchall()
        return [(int(ts), float(value)) for ts, value in rows]

    def rows(self, device_id: str, since_ms: int, until_ms: int) -> list[tuple[int, dict[
            str, float]]]:
        """Every stored message of the device with ``since_ms <= ts < until_ms``, raw, in time
        order (a backtest replays them)."""
        if until_ms <= since_ms:
            return []
        with self._lock:
            conn = self._connection()
            if conn is None:
                return []
            out: list[tuple[int, dict[str, float]]] = []
            for day in _day_tables(conn):
                if not since_ms // DAY_MS <= day <= (until_ms - 1) // DAY_MS:
                    continue
                out += [(int(ts), orjson.loads(text)) for ts, text in conn.execute(
                    f"SELECT ts_ms, v FROM {_table(day)} WHERE device_id = ? AND ts_ms >= ? "
                    "AND ts_ms < ? ORDER BY ts_ms", (device_id, since_ms, until_ms))]
        return out

    def latest(self, device_id: str, metric: str) -> tuple[int, float] | None:
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            for day in reversed(_day_tables(conn)):
                row = conn.execute(
                    f"SELECT ts_ms, json_extract(v, ?) AS x FROM {_table(day)} "
                    "WHERE device_id = ? AND x IS NOT NULL ORDER BY ts_ms DESC LIMIT 1",
                    (_path(metric), device_id)).fetchone()
                if row is not None:
                    return int(row[0]), float(row[1])
        return None

    def latest_values(self, device_id: str) -> dict[str, tuple[int, float]]:
        """The newest value of every metric the device reported in the newest day it reported."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return {}
            for day in reversed(_day_tables(conn)):
                rows = conn.execute(f"SELECT ts_ms, v FROM {_table(day)} WHERE device_id = ? "
                                    "ORDER BY ts_ms", (device_id,)).fetchall()
                if rows:
                    latest: dict[str, tuple[int, float]] = {}
                    for ts, text in rows:
                        for name, value in orjson.loads(text).items():
                            latest[name] = (int(ts), float(value))
                    return latest
        return {}


def _path(metric: str) -> str:
    return '$."' + metric.replace('"', "") + '"'
