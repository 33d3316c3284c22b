"""SQLite connections for the gateway's embedded stores (telemetry, dead letters, outbox, spool).

WAL lets readers in other processes (the platform reading trends) work beside the writer;
``synchronous=NORMAL`` keeps commits durable across a process crash (kill -9), which is what the
acknowledge-after-commit rule needs, without an fsync per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


def open_db(path: Path) -> sqlite3.Connection:
    """A read-write connection usable from several threads (callers hold their own lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT``, rolled back when the body fails: a failed write must not leave a
    transaction open, or every later ``BEGIN`` fails too and one bad row stops the store."""
    conn.execute("BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
