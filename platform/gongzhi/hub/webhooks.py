"""Outbound webhooks (e.g. the police room's own system).

Messages are written to an outbox in the transaction that changes the ticket, and sent later by
a background task: a slow or dead receiver never holds up ticket handling. Each POST carries
``X-Gongzhi-Timestamp`` and ``X-Gongzhi-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<timestamp>.<body>"`` with the party's secret. Failures are retried with exponential backoff;
a job is leased while being sent so that two replicas do not both send it.
"""

from __future__ import annotations

import logging

import httpx

from gongzhi.core.backoff import Backoff
from gongzhi.core.clock import Clock
from gongzhi.hub.duty_model import DutyMatrix
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.notify.channel import Result
from gongzhi.hub.notify.hook import post_signed, sign
from gongzhi.hub.periodic import PeriodicTask
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.records import WebhookJob

log = logging.getLogger(__name__)

BASE_DELAY_MS = 1_000
MAX_DELAY_MS = 300_000
MAX_ATTEMPTS = 20
LEASE_MS = 60_000
GIVEN_UP = 2**62  # next_attempt_at of a job that will not be tried again


__all__ = ["WebhookSender", "backoff_ms", "sign"]

RETRY = Backoff(first_s=BASE_DELAY_MS / 1000, max_s=MAX_DELAY_MS / 1000)


def backoff_ms(attempts: int) -> int:
    """Delay before the next try after ``attempts`` failed ones (1 s, 2 s, 4 s ... 5 min): the
    backoff's ceiling, without jitter, as the retry time is stored and read back."""
    return int(RETRY.ceiling(attempts) * 1000)


class WebhookSender:
    def __init__(self, store: Store, matrix: DutyMatrix, clock: Clock, metrics: Metrics, *,
                 interval_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self._store = store
        self._matrix = matrix
        self._clock = clock
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._periodic = PeriodicTask("gongzhi-webhooks", self.run_once, interval_s)

    @property
    def enabled(self) -> bool:
        return bool(self._matrix.webhooks)

    def run_once(self) -> int:
        """Send every job due now; returns how many were delivered."""
        now = self._clock.now_ms()
        with self._store.transaction(now) as tx:
            jobs = tx.claim_webhooks(now, LEASE_MS)
        if not jobs:
            return 0
        delivered = 0
        with httpx.Client(timeout=self._timeout_s) as client:
            for job in jobs:
                delivered += self._send(client, job)
        return delivered

    def _send(self, client: httpx.Client, job: WebhookJob) -> int:
        hook = self._matrix.webhook_for(job.party)
        now = self._clock.now_ms()
        error: str | None = None
        final = hook is None
        if hook is None:
            error = "no webhook configured for the party any more"
        else:
            # The notification layer's signed-webhook transport: one signature scheme, one
            # reading of the receiver's answer (a refusal is final, not retried 20 times).
            outcome = post_signed(client, job.url, hook.secret, job.body, now,
                                  key=f"webhook:{job.id}")
            if outcome.result is not Result.SENT:
                error = outcome.detail
                final = outcome.result is Result.REFUSED
        attempts = job.attempts + 1
        if error is None:
            next_at, done = now, now
        elif attempts >= MAX_ATTEMPTS or final:
            next_at, done = GIVEN_UP, None
            log.error("webhook to %s given up after %d attempts: %s", job.party, attempts, error)
        else:
            next_at, done = now + backoff_ms(attempts), None
        with self._store.transaction(now) as tx:
            tx.finish_webhook(job.id, delivered_at=done, next_attempt_at=next_at, error=error)
        self._metrics.inc("gongzhi_webhook_deliveries_total", party=job.party,
                          result="ok" if error is None else "error")
        return int(error is None)

    def start(self) -> None:
        if self.enabled:
            self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
