"""Delivers the outbox to the platform (``POST /api/alarms``), at least once, in queue order.

Answers: 2xx → sent. 408, 429, 5xx → retried with exponential backoff (per alarm, so one alarm
the platform chokes on does not hold the others back). 401/403 → retried too: a token problem is
the installation's, not the alarm's, and must not throw alarms away. Any other 4xx → refused for
good: the entry is kept as ``dead`` with the answer and counted, never retried. No answer at all
(platform down) → the pass stops and the whole outbox waits with backoff.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from gongzhi.core.clock import Clock
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.platform_client import PlatformClient, PlatformUnreachable

log = logging.getLogger(__name__)

ALARMS_PATH = "/api/alarms"
RETRY_STATUSES = frozenset({401, 403, 408, 429})
IDLE_S = 1.0


class AlarmSender:
    def __init__(self, outbox: AlarmOutbox, client: PlatformClient, metrics: GatewayMetrics,
                 clock: Clock, *, rng: random.Random | None = None, min_backoff_s: float = 0.25,
                 # Alarms are life-safety traffic with a 10 s transmission norm (GB 26875.1):
                 # a platform back from a restart must not wait half a minute for them.
                 max_backoff_s: float = 4.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._monotonic = monotonic  # backoff timing (injectable for tests)
        self._retry_at: dict[int, float] = {}  # outbox seq → monotonic time of the next try
        self._outage_failures = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alarm-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        """New alarms were committed: send them now rather than at the next idle tick."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                delay = self.run_once()
            except Exception:  # the sender must outlive any surprise (e.g. a disk error)
                log.exception("alarm sender pass failed")
                delay = self._max_backoff_s
            self._wake.wait(delay)
            self._wake.clear()

    def run_once(self) -> float:
        """One pass over the due entries; returns how long to wait before the next."""
        entries = self._outbox.pending(limit=200)
        now = self._monotonic()
        next_due = now + IDLE_S
        for entry in entries:
            if self._stopping.is_set():
                return 0.0
            due = self._retry_at.get(entry.seq, 0.0)
            if due > now:
                next_due = min(next_due, due)
                continue
            try:
                status, text = self._client.post(ALARMS_PATH, entry.body)
            except PlatformUnreachable as exc:
                self._metrics.inc("alarm_send_failures_total")
                self._outbox.mark_failed(entry.seq, str(exc))
                self._outage_failures += 1
                wait = self._backoff(self._outage_failures)
                log.warning("platform unreachable (%s); alarms wait %.1f s", exc, wait)
                return wait
            self._outage_failures = 0
            if 200 <= status < 300:
                self._outbox.mark_sent(entry.seq, self._clock.now_ms())
                self._retry_at.pop(entry.seq, None)
                self._metrics.inc("alarms_sent_total")
            elif 400 <= status < 500 and status not in RETRY_STATUSES:
                self._outbox.mark_dead(entry.seq, f"HTTP {status}: {text}", self._clock.now_ms())
                self._retry_at.pop(entry.seq, None)
                self._metrics.inc("alarms_refused_total")
                log.error("platform refused alarm %s: HTTP %s %s", entry.alarm_id, status, text)
            else:
                self._outbox.mark_failed(entry.seq, f"HTTP {status}: {text}")
                self._metrics.inc("alarm_send_failures_total")
                due = self._monotonic() + self._backoff(entry.attempts + 1)
                self._retry_at[entry.seq] = due
                next_due = min(next_due, due)
        if len(entries) == 200 and not self._retry_at:
            return 0.0
        return max(0.0, next_due - self._monotonic())

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._max_backoff_s, self._min_backoff_s * 2 ** min(failures - 1, 20))
        return float(ceiling * (0.5 + self._rng.random() / 2))
