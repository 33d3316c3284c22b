"""The event feed behind server push: one poller per process reads new ticket events from the
store (so events committed by other replicas arrive too) and hands them to every subscriber.

A local commit wakes the poller at once; otherwise it polls every ``poll_s``. A subscriber that
falls too far behind is dropped: its client reconnects with ``Last-Event-ID`` and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from anyio import to_thread

from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.periodic import cancel
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.records import TicketEvent

log = logging.getLogger(__name__)

BATCH = 500


class Overflow:
    """Put on a subscriber's queue when it could not keep up."""


OVERFLOW = Overflow()


class Subscription:
    def __init__(self, start_seq: int, max_backlog: int) -> None:
        self.start_seq = start_seq
        self.queue: asyncio.Queue[TicketEvent | Overflow] = asyncio.Queue(max_backlog + 1)
        self.max_backlog = max_backlog
        self.dropped = False


class EventFeed:
    def __init__(self, store: Store, *, poll_s: float = 0.2, max_backlog: int = 10_000) -> None:
        self._store = store
        self._poll_s = poll_s
        self._max_backlog = max_backlog
        self._subscribers: set[Subscription] = set()
        self._last_seq: int | None = None  # not known until the store answers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        with contextlib.suppress(StoreUnavailable):  # then the poller reads it when it can
            self._last_seq = await to_thread.run_sync(self._read_last_seq)
        self._store.add_commit_listener(self._committed)
        self._task = asyncio.create_task(self._run(), name="gongzhi-event-feed")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def _read_last_seq(self) -> int:
        with self._store.transaction(0) as tx:
            return tx.last_event_seq()

    def _read_after(self, seq: int) -> list[TicketEvent]:
        with self._store.transaction(0) as tx:
            return tx.events_after(seq, BATCH)

    def _committed(self, _events: list[TicketEvent]) -> None:
        """Commit listener; runs on whichever thread committed."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            events: list[TicketEvent] = []
            try:
                if self._last_seq is None:
                    self._last_seq = await to_thread.run_sync(self._read_last_seq)
                else:
                    events = await to_thread.run_sync(self._read_after, self._last_seq)
            except StoreUnavailable as exc:  # the store is down for a moment: keep polling
                log.warning("reading ticket events: %s", exc)
            except Exception:
                log.exception("reading ticket events failed")
            for event in events:
                self._dispatch(event)
                self._last_seq = event.seq
            if len(events) < BATCH:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)

    def _dispatch(self, event: TicketEvent) -> None:
        for sub in list(self._subscribers):
            if sub.queue.qsize() >= sub.max_backlog:
                sub.dropped = True
                self._subscribers.discard(sub)
                sub.queue.put_nowait(OVERFLOW)
            else:
                sub.queue.put_nowait(event)

    def subscribe(self) -> Subscription:
        sub = Subscription(self._last_seq or 0, self._max_backlog)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    async def stored_last_seq(self) -> int:
        return await to_thread.run_sync(self._read_last_seq)

    async def replay(self, after_seq: int) -> list[TicketEvent]:
        """Up to one batch of stored events after ``after_seq``."""
        return await to_thread.run_sync(self._read_after, after_seq)
