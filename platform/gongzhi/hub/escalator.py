"""The background escalation loop: every ``interval_s`` it applies whatever escalation is due
by the injected clock. ``run_once`` does one pass on the caller's thread (tests drive it)."""

from __future__ import annotations

import logging

from gongzhi.hub.escalation import Escalation
from gongzhi.hub.periodic import PeriodicTask
from gongzhi.hub.service import TicketService

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, service: TicketService, interval_s: float = 1.0) -> None:
        self._service = service
        self._periodic = PeriodicTask("gongzhi-escalator", self.run_once, interval_s)
        self.passes = 0

    def run_once(self) -> list[Escalation]:
        applied = self._service.escalate_due()
        self.passes += 1
        for escalation in applied:
            log.info("ticket %s escalated: %s", escalation.after.id,
                     ", ".join(s.kind.value for s in escalation.steps))
        return applied

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
