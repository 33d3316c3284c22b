"""Ticket storage: SQLite by default, PostgreSQL for deployment, one schema and repository.

- ``codec``: the ticket's columns, row and event record, derived from the ``Ticket`` dataclass;
- ``tables``: every table as SQLAlchemy Core sees it (the one list of columns);
- ``schema``: the numbered migrations that make those tables, run when the store opens;
- ``sql``: every statement, built with Core and compiled per dialect (``SqlTx``);
- ``engine``, ``sqlite``, ``postgres``: transactions, locks and errors of each database;
- ``gate``: the store as the platform uses it, ready once migrated (in the background).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gongzhi.core.errors import ConfigError
from gongzhi.hub.store.base import Store


def open_store(url: str) -> Store:
    """A store for ``sqlite:///path`` or ``postgresql://...``; nothing is opened until used."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://")
        if not path or path == "/":
            raise ConfigError(f"SQLite URL needs a path: {url!r}", source="GONGZHI_DATABASE_URL")
        from gongzhi.hub.store.sqlite import SqliteStore

        # sqlite:///relative/file.db and sqlite:////absolute/file.db, as SQLAlchemy spells them.
        return SqliteStore(Path(path[1:] if path.startswith("/") else path))
    if scheme in ("postgresql", "postgres"):
        from gongzhi.hub.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(f"database URL must be sqlite:///path or postgresql://..., got {url!r}",
                      source="GONGZHI_DATABASE_URL")
