"""The embedded telemetry store's file: SQLite (WAL) in the data directory, one table per UTC day,
a row per message ``(device_id, ts_ms, values-as-JSON)`` unique by (device, ts). The gateway's
writer (``gongzhi.gateway.telemetry_store``) and ``EmbeddedReader`` share this layout.

``EmbeddedReader`` opens the file read-only, so another process (the platform) can read while the
gateway writes; long ranges are downsampled to at most ``max_points`` bucket averages.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import orjson

from gongzhi.core.settings import Settings
from gongzhi.telemetry.reader import ClosingReader

DAY_MS = 86_400_000
DEFAULT_RETENTION_DAYS = 8
BUSY_TIMEOUT_MS = 10_000
_TABLE = re.compile(r"points_(\d+)")


def telemetry_db_path(settings: Settings) -> Path:
    """Where the embedded telemetry store lives: ``telemetry.db`` in the data directory."""
    return settings.data_dir / "telemetry.db"


def day_table(day: int) -> str:
    """The table of the UTC day ``day`` (days since the epoch)."""
    return f"points_{day}"


def day_tables(conn: sqlite3.Connection) -> list[int]:
    """The days that have a table, oldest first."""
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(int(m.group(1)) for (name,) in names if (m := _TABLE.fullmatch(name)))


def metric_path(metric: str) -> str:
    """The JSON path of a metric inside a row's values."""
    return '$."' + metric.replace('"', "") + '"'


def open_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


class EmbeddedReader(ClosingReader):
    """Read side, safe to use from another process while the gateway writes. A missing file
    answers nothing (no gateway has written yet)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

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
        """``(ts_ms, value)`` pairs in time order: raw points when there are few, else at most
        ``max_points`` averages over equal time buckets (each stamped with the mean time of its
        points)."""
        if until_ms < since_ms or max_points < 1:
            return []
        with self._lock:
            conn = self._connection()
            if conn is None:
                return []
            days = [d for d in day_tables(conn)
                    if since_ms // DAY_MS <= d <= until_ms // DAY_MS]
            if not days:
                return []
            step = max(1, -(-(until_ms - since_ms + 1) // max_points))
            union = " UNION ALL ".join(
                f"SELECT ts_ms, json_extract(v, ?) AS x FROM {day_table(d)} "
                "WHERE device_id = ? AND ts_ms BETWEEN ? AND ?" for d in days)
            params: list[object] = []
            for _ in days:
                params += [metric_path(metric), device_id, since_ms, until_ms]
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
            for day in day_tables(conn):
                if not since_ms // DAY_MS <= day <= (until_ms - 1) // DAY_MS:
                    continue
                out += [(int(ts), orjson.loads(text)) for ts, text in conn.execute(
                    f"SELECT ts_ms, v FROM {day_table(day)} WHERE device_id = ? AND ts_ms >= ? "
                    "AND ts_ms < ? ORDER BY ts_ms", (device_id, since_ms, until_ms))]
        return out

    def latest(self, device_id: str, metric: str,
               since_ms: int = 0) -> tuple[int, float] | None:
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            for day in reversed(day_tables(conn)):
                if day < since_ms // DAY_MS:
                    break
                row = conn.execute(
                    f"SELECT ts_ms, json_extract(v, ?) AS x FROM {day_table(day)} "
                    "WHERE device_id = ? AND ts_ms >= ? AND x IS NOT NULL "
                    "ORDER BY ts_ms DESC LIMIT 1",
                    (metric_path(metric), device_id, since_ms)).fetchone()
                if row is not None:
                    return int(row[0]), float(row[1])
        return None

    def latest_values(self, device_id: str) -> dict[str, tuple[int, float]]:
        """The newest value of every metric the device reported in the newest day it reported."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return {}
            for day in reversed(day_tables(conn)):
                rows = conn.execute(f"SELECT ts_ms, v FROM {day_table(day)} WHERE device_id = ? "
                                    "ORDER BY ts_ms", (device_id,)).fetchall()
                if rows:
                    latest: dict[str, tuple[int, float]] = {}
                    for ts, text in rows:
                        for name, value in orjson.loads(text).items():
                            latest[name] = (int(ts), float(value))
                    return latest
        return {}
