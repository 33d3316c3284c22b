"""The dialect's own ``INSERT`` (with ``ON CONFLICT``) for the connection at hand: SQLAlchemy
Core's generic insert has no conflict clause, and the store speaks SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection, table: Table) -> Any:
    """``INSERT INTO table`` in ``conn``'s dialect, ready for ``on_conflict_do_*``."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database {name}")  # pragma: no cover - only these two
