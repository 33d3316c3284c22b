"""A blocking job run every few seconds off the event loop, for the app's background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from anyio import to_thread

from gongzhi.core.errors import StoreUnavailable

log = logging.getLogger(__name__)


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended (nothing to do for None)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PeriodicTask:
    def __init__(self, name: str, job: Callable[[], object], interval_s: float) -> None:
        self.name = name
        self._job = job
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel between runs; a run in progress finishes first (threads cannot be killed)."""
        await cancel(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await to_thread.run_sync(self._job)
            except StoreUnavailable as exc:  # an outage, not a bug: one line, no traceback
                log.warning("%s: %s", self.name, exc)
            except Exception:  # a store or network hiccup must not end the work for good
                log.exception("%s failed", self.name)
            await asyncio.sleep(self._interval_s)
