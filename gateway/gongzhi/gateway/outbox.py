"""The on-disk alarm outbox (SQLite): alarms are committed here before the MQTT messages that
caused them are acknowledged, and leave only when the platform has stored them.

An entry is ``pending`` until the platform answers 2xx (``sent``) or refuses it for good (``dead``,
with the reason; never retried). ``(alarm_id, state)`` is unique, so an alarm detected again after
a restart (stable ids) is not queued twice. Sent entries are pruned after a day.

An alarm is serialised (``encode_alarm``) before the transaction, so an alarm that cannot be
written as JSON (``UnstorableAlarm``: the caller records it as a dead letter) is told apart from
the database failing (retried by the caller).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gongzhi.core.alarms import Alarm
from gongzhi.gateway.sqlite import open_db, transaction

KEEP_SENT_MS = 86_400_000


class UnstorableAlarm(Exception):
    """This alarm cannot be serialised (whatever the state of the database)."""


@dataclass(frozen=True, slots=True)
class EncodedAlarm:
    alarm_id: str
    state: str
    body: bytes


def encode_alarm(alarm: Alarm) -> EncodedAlarm:
    """The outbox row of an alarm; ``UnstorableAlarm`` when its evidence is not plain JSON (a
    lone surrogate, an integer past 64 bits, nesting past orjson's limit, keys not strings)."""
    try:
        body = orjson.dumps(alarm.to_dict())
    except (TypeError, ValueError, RecursionError) as exc:  # orjson.JSONEncodeError included
        raise UnstorableAlarm(f"alarm {alarm.alarm_id} cannot be serialised: {exc}") from None
    return EncodedAlarm(alarm.alarm_id, alarm.state.value, body)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    alarm_id: str
    body: bytes  # the JSON of Alarm.to_dict()
    attempts: int


class AlarmOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self._conn = open_db(self.path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "alarm_id TEXT NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL, "
            "created_ms INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
            "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, done_ms INTEGER, "
            "UNIQUE (alarm_id, state))")
        self._conn.execute("CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq)")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def add(self, alarms: Sequence[Alarm], now_ms: int) -> int:
        """Queue the alarms (one transaction); returns how many were new. ``UnstorableAlarm``
        when one cannot be serialised (then none is queued)."""
        return self.add_encoded([encode_alarm(a) for a in alarms], now_ms)

    def add_encoded(self, alarms: Sequence[EncodedAlarm], now_ms: int) -> int:
        """Queue alarms already serialised (one transaction); returns how many were new."""
        if not alarms:
            return 0
        conn = self._require()
        rows = [(a.alarm_id, a.state, a.body, now_ms) for a in alarms]
        with self._lock:
            before = conn.total_changes
            with transaction(conn):
                conn.executemany("INSERT OR IGNORE INTO outbox (alarm_id, state, body, "
                                 "created_ms) VALUES (?, ?, ?, ?)", rows)
            return conn.total_changes - before

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest pending entries, in the order they were queued."""
        conn = self._require()
        with self._lock:
            rows = conn.execute("SELECT seq, alarm_id, body, attempts FROM outbox WHERE "
                                "status = 'pending' ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxEntry(seq, alarm_id, bytes(body), attempts)
                for seq, alarm_id, body, attempts in rows]

    def mark_sent(self, seq: int, now_ms: int) -> None:
        self._update("UPDATE outbox SET status = 'sent', attempts = attempts + 1, done_ms = ?, "
                     "last_error = NULL WHERE seq = ?", (now_ms, seq))

    def mark_sent_many(self, seqs: Sequence[int], now_ms: int) -> None:
        """``mark_sent`` for a batch the platform stored (one transaction)."""
        self._update_many("UPDATE outbox SET status = 'sent', attempts = attempts + 1, "
                          "done_ms = ?, last_error = NULL WHERE seq = ?",
                          [(now_ms, seq) for seq in seqs])

    def mark_failed_many(self, seqs: Sequence[int], error: str) -> None:
        self._update_many("UPDATE outbox SET attempts = attempts + 1, last_error = ? "
                          "WHERE seq = ?", [(error[:500], seq) for seq in seqs])

    def mark_failed(self, seq: int, error: str) -> None:
        self._update("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                     (error[:500], seq))

    def mark_dead(self, seq: int, reason: str, now_ms: int) -> None:
        self._update("UPDATE outbox SET status = 'dead', attempts = attempts + 1, done_ms = ?, "
                     "last_error = ? WHERE seq = ?", (now_ms, reason[:500], seq))

    def counts(self) -> dict[str, int]:
        conn = self._require()
        with self._lock:
            rows = conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        found = {status: int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in ("pending", "sent", "dead")}

    def waiting(self) -> tuple[int, int | None]:
        """How many alarms wait for the platform, and when the oldest of them was queued."""
        conn = self._require()
        with self._lock:
            n, oldest = conn.execute("SELECT count(*), min(created_ms) FROM outbox WHERE "
                                     "status = 'pending'").fetchone()
        return int(n), None if oldest is None else int(oldest)

    def dead(self, limit: int = 100) -> list[dict[str, Any]]:
        conn = self._require()
        with self._lock:
            rows = conn.execute("SELECT alarm_id, body, attempts, last_error, done_ms FROM outbox "
                                "WHERE status = 'dead' ORDER BY seq DESC LIMIT ?",
                                (limit,)).fetchall()
        return [{"alarm_id": alarm_id, "alarm": orjson.loads(body), "attempts": attempts,
                 "reason": error, "refused_ms": done} for alarm_id, body, attempts, error, done
                in rows]

    def prune_sent(self, now_ms: int) -> None:
        self._update("DELETE FROM outbox WHERE status = 'sent' AND done_ms < ?",
                     (now_ms - KEEP_SENT_MS,))

    def _update(self, sql: str, params: tuple[Any, ...]) -> None:
        conn = self._require()
        with self._lock:
            conn.execute(sql, params)

    def _update_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        conn = self._require()
        with self._lock, transaction(conn):
            conn.executemany(sql, rows)

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("AlarmOutbox is not open")
        return self._conn
