"""The delivery layer in a running platform: the channels file, the outbox over the ticket
store's transactions, the attempt queue the re-notification task writes through (``queue``),
and the dispatcher run every half second off the event loop. Built without I/O; ``start`` runs
it (when any channel is configured)."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from gongzhi.core.clock import Clock
from gongzhi.hub.notify.config import NotifyConfig, build_channels
from gongzhi.hub.notify.dispatcher import Dispatcher, LinkMaker, RunReport
from gongzhi.hub.notify.links import LinkSigner, Recipient
from gongzhi.hub.notify.outbox import NotifyOutbox
from gongzhi.hub.notify.planner import AttemptQueue
from gongzhi.hub.periodic import PeriodicTask
from gongzhi.hub.store.base import Store


def signed_links(signer: LinkSigner) -> LinkMaker:
    """Each message's link: the mobile page of its ticket for the person it goes to."""

    def link(ticket_id: int, party: str, person: str, now: int) -> str:
        return signer.link_for(ticket_id, Recipient(party, person), now)

    return link


class NotifyDelivery:
    def __init__(self, store: Store, config: NotifyConfig, clock: Clock, link: LinkMaker, *,
                 timezone: str = "Asia/Shanghai", rng: random.Random | None = None,
                 owner: str | None = None, observe: Callable[[str, str], None] | None = None,
                 interval_s: float = 0.5) -> None:
        self.config = config
        self.outbox = NotifyOutbox(lambda: self._store_connection(store, clock))
        self.queue = AttemptQueue(config)
        self.dispatcher = Dispatcher(
            self.outbox, build_channels(config, rng), clock,
            owner=owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}", link=link,
            policy=config.delivery.policy(), timezone=timezone, observe=observe)
        self._periodic = PeriodicTask("gongzhi-notify", self.run_once, interval_s)

    @staticmethod
    @contextmanager
    def _store_connection(store: Store, clock: Clock) -> Iterator[Connection]:
        with store.transaction(clock.now_ms()) as tx:
            yield tx.connection

    @property
    def enabled(self) -> bool:
        return bool(self.config.channels)

    def run_once(self) -> RunReport:
        return self.dispatcher.run_once()

    def start(self) -> None:
        if self.enabled:
            self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        self.dispatcher.close()
