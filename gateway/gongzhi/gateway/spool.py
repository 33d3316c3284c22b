"""The on-disk spool of line-protocol batches for InfluxDB (SQLite, in the gateway's directory).

Every batch is appended here before the MQTT messages it came from are acknowledged, and deleted
once InfluxDB has confirmed it: what remains after a failure, an outage or a restart is replayed
oldest first. The spool is bounded by ``max_bytes``: past it the oldest batches are dropped and
counted (telemetry only; alarms never pass through here), so an endless outage cannot fill the
disk. Batches in flight to InfluxDB (taken with ``oldest(hold=True)``) are not dropped until
they settle (``release()``): a write still being retried may yet succeed, and a point must not be
both stored and counted as dropped; the bound may be exceeded by that one chunk meanwhile.
``bytes`` and ``points`` are kept in memory for ``/metrics``.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gongzhi.gateway.sqlite import open_db

DEFAULT_MAX_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    id: int
    lines: bytes
    points: int


class Spool:
    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.bytes = 0
        self.points = 0
        self.dropped_points = 0
        self._held_through = 0  # batches with ids up to this one are in flight

    def open(self) -> None:
        self._conn = open_db(self.path)
        self._conn.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY "
                           "AUTOINCREMENT, lines BLOB NOT NULL, points INTEGER NOT NULL)")
        size, points = self._conn.execute(
            "SELECT coalesce(sum(length(lines)), 0), coalesce(sum(points), 0) FROM spool"
        ).fetchone()
        self.bytes, self.points = int(size), int(points)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def append(self, lines: bytes, points: int) -> int:
        """Keep a batch (committed when this returns); drops the oldest past the bound."""
        conn = self._require()
        with self._lock:
            conn.execute("BEGIN")
            try:
                row = conn.execute("INSERT INTO spool (lines, points) VALUES (?, ?) RETURNING id",
                                   (lines, points)).fetchone()
                self.bytes += len(lines)
                self.points += points
                while self.bytes > self.max_bytes:
                    oldest = conn.execute("SELECT id, length(lines), points FROM spool "
                                          "WHERE id > ? AND id < ? ORDER BY id LIMIT 1",
                                          (self._held_through, row[0])).fetchone()
                    if oldest is None:
                        break
                    conn.execute("DELETE FROM spool WHERE id = ?", (oldest[0],))
                    self.bytes -= oldest[1]
                    self.points -= oldest[2]
                    self.dropped_points += oldest[2]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(row[0])

    def release(self) -> None:
        with self._lock:
            self._held_through = 0

    def oldest(self, max_points: int, after_id: int = 0, *, hold: bool = False
               ) -> list[SpooledBatch]:
        """The oldest batches after ``after_id``, up to about ``max_points`` (at least one).
        ``hold``: they go in flight now, and are kept past the bound until ``release()``."""
        conn = self._require()
        with self._lock:
            rows = conn.execute("SELECT id, lines, points FROM spool WHERE id > ? ORDER BY id "
                                "LIMIT 1000", (after_id,)).fetchall()
            batches: list[SpooledBatch] = []
            total = 0
            for id_, lines, points in rows:
                if batches and total + points > max_points:
                    break
                batches.append(SpooledBatch(int(id_), bytes(lines), int(points)))
                total += points
            if hold and batches:
                self._held_through = batches[-1].id
        return batches

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        conn = self._require()
        with self._lock:
            conn.execute("BEGIN")
            marks = ",".join("?" * len(ids))
            size, points = conn.execute(
                f"SELECT coalesce(sum(length(lines)), 0), coalesce(sum(points), 0) FROM spool "
                f"WHERE id IN ({marks})", ids).fetchone()
            conn.execute(f"DELETE FROM spool WHERE id IN ({marks})", ids)
            conn.execute("COMMIT")
            self.bytes -= int(size)
            self.points -= int(points)

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("Spool is not open")
        return self._conn
