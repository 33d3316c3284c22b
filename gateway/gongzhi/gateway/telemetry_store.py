"""The embedded telemetry store's writer: SQLite (WAL) in the data directory, one table per UTC
day (the layout, and the reader, are ``gongzhi.telemetry.embedded``).

A row is one message: ``(device_id, ts_ms, values-as-JSON)``, appended in arrival order (cheap:
the rows of a batch share pages) and unique by (device, ts) through an index, so writing the same
message twice (a redelivery after a crash) changes nothing and a device's range is one index scan.
Day tables make retention a ``DROP TABLE`` (default: 8 days kept, at least the 7 the platform's
trends need). Points older than the retention window when they arrive are not stored (counted
by the caller).

Readers in other processes (the platform's trends) open the file read-only beside the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.sqlite import open_db
from gongzhi.telemetry.embedded import DAY_MS, DEFAULT_RETENTION_DAYS, day_table, day_tables

CACHE_KIB = 65_536

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
        self._tables = set(day_tables(self._conn))

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
                            f"CREATE TABLE IF NOT EXISTS {day_table(day)} "
                            "(device_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, v TEXT NOT NULL)")
                        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {day_table(day)}_key ON "
                                     f"{day_table(day)} (device_id, ts_ms)")
                        self._tables.add(day)
                    conn.executemany(
                        f"INSERT INTO {day_table(day)} (device_id, ts_ms, v) VALUES (?, ?, ?) "
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
                    conn.execute(f"DROP TABLE IF EXISTS {day_table(day)}")
                    self._tables.discard(day)
                    dropped += 1
        return dropped

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("TelemetryStore is not open")
        return self._conn
