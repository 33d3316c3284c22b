"""The dead-letter store: every refused message with its reason, kept in SQLite in the data
directory. Payloads are truncated to ``payload_limit`` bytes (the original size is kept), and the
table holds at most ``max_rows`` records (the oldest go first), so a flood of garbage cannot fill
the disk. Texts are stored as valid UTF-8 whatever they hold (a lone surrogate in a refused
message's detail is written as its escape): recording a refusal must never fail on its content."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gongzhi.gateway.messages import DeadLetter
from gongzhi.gateway.sqlite import open_db, transaction

PAYLOAD_LIMIT = 1024
MAX_ROWS = 100_000


def storable_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (which SQLite cannot take) as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class DeadLetterStore:
    def __init__(self, path: Path, *, payload_limit: int = PAYLOAD_LIMIT,
                 max_rows: int = MAX_ROWS) -> None:
        self.path = path
        self.payload_limit = payload_limit
        self.max_rows = max_rows
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._since_trim = 0

    def open(self) -> None:
        self._conn = open_db(self.path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "received_ms INTEGER NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, "
            "detail TEXT NOT NULL, payload BLOB NOT NULL, payload_size INTEGER NOT NULL)")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        conn = self._require()
        rows = [(d.received_ms, storable_text(d.topic[:512]), storable_text(d.reason[:64]),
                 storable_text(d.detail[:1000]),
                 d.payload[: self.payload_limit], len(d.payload)) for d in letters]
        with self._lock, transaction(conn):
            conn.executemany("INSERT INTO dead_letters (received_ms, topic, reason, detail, "
                             "payload, payload_size) VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._since_trim += len(rows)
            if self._since_trim >= max(1, self.max_rows // 10):
                self._since_trim = 0
                conn.execute("DELETE FROM dead_letters WHERE id <= "
                             "(SELECT max(id) FROM dead_letters) - ?", (self.max_rows,))

    def recent(self, limit: int = 100, reason: str | None = None) -> list[dict[str, Any]]:
        """Newest first, as JSON-ready dicts (the payload as text, undecodable bytes replaced)."""
        conn = self._require()
        where, params = ("WHERE reason = ?", [reason]) if reason else ("", [])
        with self._lock:
            rows = conn.execute(
                "SELECT id, received_ms, topic, reason, detail, payload, payload_size FROM "
                f"dead_letters {where} ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
        return [{"id": i, "received_ms": ms, "topic": topic, "reason": why, "detail": detail,
                 "payload": bytes(payload).decode("utf-8", "replace"), "payload_size": size,
                 "truncated": size > len(payload)}
                for i, ms, topic, why, detail, payload, size in rows]

    def count(self) -> int:
        conn = self._require()
        with self._lock:
            return int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("DeadLetterStore is not open")
        return self._conn
