"""A store that is used only once its schema is in place, and a task that puts it in place as
soon as the database can be reached.

A platform started while its database is away (a PostgreSQL still booting, a network cut) must
not die: it serves its pages, says on ``/readyz`` (503) and on the wall that the database is
unreachable, and migrates in the background with backoff. Until then every transaction raises
``StoreUnavailable`` (answered 503, so the gateway keeps its alarms) and ``ping`` is false.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

from anyio import to_thread

from gongzhi.core.backoff import Backoff
from gongzhi.core.demo import without_password
from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.periodic import cancel
from gongzhi.hub.store.base import CommitListener, Store
from gongzhi.hub.store.sql import SqlTx

log = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


class MigratedStore:
    """``inner`` once ``migrate`` has succeeded; "unavailable" before. ``prepare`` runs on the
    migrated ``inner`` before it is used (data brought in from files of an earlier release);
    when it fails, migrating failed and is tried again."""

    def __init__(self, inner: Store, url: str,
                 prepare: Callable[[Store], object] | None = None) -> None:
        self._inner = inner
        self.dialect_name = inner.dialect_name
        self.url = without_password(url)
        self._prepare = prepare
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def migrate(self) -> None:
        self._inner.migrate()
        if self._prepare is not None:
            self._prepare(self._inner)
        self._ready.set()

    def transaction(self, now: int) -> AbstractContextManager[SqlTx]:
        if not self._ready.is_set():
            raise StoreUnavailable(f"the database {self.url} is not reachable yet")
        return self._inner.transaction(now)

    def ping(self) -> bool:
        return self._ready.is_set() and self._inner.ping()

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._inner.add_commit_listener(listener)

    def close(self) -> None:
        self._inner.close()


def unreachable_message(url: str, error: Exception, retry_s: float) -> str:
    why = " ".join(str(error).split())  # one line: the driver's message has line breaks
    return (f"the platform cannot reach its database {url} ({why}); it serves its pages and "
            f"answers 503 (/readyz too) until the database is there, trying again every "
            f"{retry_s:.0f} s up to {MAX_RETRY_S:.0f} s. Start the database or fix "
            f"GONGZHI_DATABASE_URL (host, port, user, password, database name)")


class Migrator:
    """Retries ``store.migrate`` off the event loop with backoff until it succeeds, then awaits
    ``on_ready``. The caller logs the first failure (``unreachable_message``)."""

    def __init__(self, store: MigratedStore, on_ready: Callable[[], Awaitable[None]], *,
                 first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._on_ready = on_ready
        self._first = first_retry_s
        self._retry = Backoff(first_retry_s, max(first_retry_s, max_retry_s),
                              floor_s=first_retry_s / 2)
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    @property
    def first_retry_s(self) -> float:
        return self._first

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gongzhi-database-migrator")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        failures = 1  # the caller saw the first
        while True:
            await self._sleep(self._retry.delay(failures, self._rng))
            try:
                await to_thread.run_sync(self._store.migrate)
            except StoreUnavailable as exc:
                log.info("database %s still unreachable: %s", self._store.url, exc)
                failures += 1
                continue
            except Exception:
                log.exception("migrating the database %s failed", self._store.url)
                failures += 1
                continue
            log.info("database %s reached and its schema ready: serving tickets",
                     self._store.url)
            try:
                await self._on_ready()
            except Exception:
                log.exception("starting the ticket work after the database came failed")
            return
