"""Delivers the outbox to the platform, at least once, in queue order.

Alarms due go in batches (``POST /api/alarms/batch``, at most ``BATCH_SIZE`` alarms and
``BATCH_BYTES``): a storm's backlog is one request and one platform transaction per batch. The
answer has one result per alarm: ``stored``/``duplicate`` → sent; ``refused`` → kept as ``dead``
with its reason (worded as a refusal of ``POST /api/alarms``) and counted, never retried;
``retry`` → retried with backoff. A platform without the batch endpoint (404/405, one that is
older) is sent one alarm per ``POST /api/alarms`` from then on; a batch refused as a whole (any
other 4xx, e.g. too large) is sent one by one, so each alarm gets its own verdict.

Answers to a request: 2xx → as above. 408, 429, 5xx → retried with exponential backoff (per
alarm, so one alarm the platform chokes on does not hold the others back). 401/403 → retried
too: a token problem is the installation's, not the alarm's, and must not throw alarms away.
Any other 4xx to one alarm → refused for good: the entry is kept as ``dead`` with the answer and
counted, never retried. No answer at all (platform down) → the pass stops and the whole outbox
waits with backoff.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from gongzhi.core.backoff import Backoff
from gongzhi.core.clock import Clock
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox, OutboxEntry
from gongzhi.gateway.platform_client import PlatformClient, PlatformUnreachable

log = logging.getLogger(__name__)

ALARMS_PATH = "/api/alarms"
BATCH_PATH = "/api/alarms/batch"
RETRY_STATUSES = frozenset({401, 403, 408, 429})
NO_BATCHES = frozenset({404, 405})  # a platform from before batches
IDLE_S = 1.0
BATCH_SIZE = 500  # as many as the platform takes in one request
BATCH_BYTES = 4 * 1024 * 1024  # its limit is 8 MiB
PENDING_READ = 2 * BATCH_SIZE


class _Outage(Exception):
    """No answer from the platform: the pass stops."""

    def __init__(self, wait: float) -> None:
        self.wait = wait


class AlarmSender:
    def __init__(self, outbox: AlarmOutbox, client: PlatformClient, metrics: GatewayMetrics,
                 clock: Clock, *, rng: random.Random | None = None, min_backoff_s: float = 0.25,
                 # Alarms are life-safety traffic with a 10 s transmission norm (GB 26875.1):
                 # a platform back from a restart must not wait half a minute for them.
                 max_backoff_s: float = 4.0, batches: bool = True,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        # The first retry waits half to all of min_backoff_s, later ones up to max_backoff_s.
        self._retry = Backoff(min_backoff_s, max_backoff_s, floor_s=min_backoff_s / 2)
        self._monotonic = monotonic  # backoff timing (injectable for tests)
        self._retry_at: dict[int, float] = {}  # outbox seq → monotonic time of the next try
        self._outage_failures = 0
        self._batches = batches  # False: one alarm per request (e.g. to measure the difference)
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
                delay = self._retry.max_s
            self._wake.wait(delay)
            self._wake.clear()

    def run_once(self) -> float:
        """One pass over the due entries; returns how long to wait before the next."""
        entries = self._outbox.pending(limit=PENDING_READ)
        now = self._monotonic()
        next_due = now + IDLE_S
        due: list[OutboxEntry] = []
        for entry in entries:
            at = self._retry_at.get(entry.seq, 0.0)
            if at > now:
                next_due = min(next_due, at)
            else:
                due.append(entry)
        try:
            for batch in _batches(due):
                if self._stopping.is_set():
                    return 0.0
                if not (self.batches and self._send_batch(batch)):
                    for entry in batch:
                        if self._stopping.is_set():
                            return 0.0
                        self._send_one(entry)
        except _Outage as outage:
            return outage.wait
        if self._retry_at:
            next_due = min(next_due, min(self._retry_at.values()))
        if len(entries) == PENDING_READ and len(due) == len(entries):
            return 0.0
        return max(0.0, next_due - self._monotonic())

    @property
    def batches(self) -> bool:
        """Whether alarms go in batches (until the platform turns out not to take them)."""
        return self._batches

    def _post(self, path: str, body: bytes, seqs: Sequence[int], *,
              whole: bool = False) -> tuple[int, str]:
        try:
            answer = self._client.post(path, body, whole=whole)
        except PlatformUnreachable as exc:
            self._metrics.inc("alarm_send_failures_total", len(seqs))
            self._outbox.mark_failed_many(seqs, str(exc))
            self._outage_failures += 1
            wait = self._backoff(self._outage_failures)
            log.warning("platform unreachable (%s); alarms wait %.1f s", exc, wait)
            raise _Outage(wait) from None
        self._outage_failures = 0
        return answer

    def _send_batch(self, batch: list[OutboxEntry]) -> bool:
        """Send ``batch`` in one request; False when its alarms must go one by one."""
        body = b'{"alarms":[' + b",".join(e.body for e in batch) + b"]}"
        status, text = self._post(BATCH_PATH, body, [e.seq for e in batch], whole=True)
        if status in NO_BATCHES:
            log.warning("the platform has no batch intake (HTTP %d on %s): alarms go one by one",
                        status, BATCH_PATH)
            self._batches = False
            return False
        if 400 <= status < 500 and status not in RETRY_STATUSES:
            log.warning("the platform refused a batch of %d alarms as a whole (HTTP %d %s); "
                        "sending them one by one", len(batch), status, text[:300])
            return False
        if not 200 <= status < 300:
            self._retry_later(batch, f"HTTP {status}: {text[:300]}")
            return True
        results = _results(text, len(batch))
        if results is None:
            log.error("the platform's answer to a batch of %d alarms is not one result per "
                      "alarm; sending them one by one", len(batch))
            return False
        sent: list[int] = []
        retry: list[OutboxEntry] = []
        for entry, result in zip(batch, results, strict=True):
            outcome = result.get("result")
            if outcome in ("stored", "duplicate"):
                sent.append(entry.seq)
            elif outcome == "refused":
                self._refused(entry, f"HTTP 422: {result.get('reason')}: "
                                     f"{result.get('message')}")
            else:
                retry.append(entry)
        if sent:
            self._outbox.mark_sent_many(sent, self._clock.now_ms())
            for seq in sent:
                self._retry_at.pop(seq, None)
            self._metrics.inc("alarms_sent_total", len(sent))
        if retry:
            self._retry_later(retry, "the platform could not store it yet")
        return True

    def _send_one(self, entry: OutboxEntry) -> None:
        status, text = self._post(ALARMS_PATH, entry.body, [entry.seq])
        if 200 <= status < 300:
            self._outbox.mark_sent(entry.seq, self._clock.now_ms())
            self._retry_at.pop(entry.seq, None)
            self._metrics.inc("alarms_sent_total")
        elif 400 <= status < 500 and status not in RETRY_STATUSES:
            self._refused(entry, f"HTTP {status}: {text}")
        else:
            self._retry_later([entry], f"HTTP {status}: {text}")

    def _refused(self, entry: OutboxEntry, reason: str) -> None:
        self._outbox.mark_dead(entry.seq, reason, self._clock.now_ms())
        self._retry_at.pop(entry.seq, None)
        self._metrics.inc("alarms_refused_total")
        log.error("platform refused alarm %s: %s", entry.alarm_id, reason)

    def _retry_later(self, entries: Sequence[OutboxEntry], error: str) -> None:
        self._outbox.mark_failed_many([e.seq for e in entries], error)
        self._metrics.inc("alarm_send_failures_total", len(entries))
        now = self._monotonic()
        for entry in entries:
            self._retry_at[entry.seq] = now + self._backoff(entry.attempts + 1)

    def _backoff(self, failures: int) -> float:
        return self._retry.delay(failures, self._rng)


def _batches(entries: Sequence[OutboxEntry]) -> Iterator[list[OutboxEntry]]:
    """Runs of entries in queue order, each within ``BATCH_SIZE`` and ``BATCH_BYTES`` (an alarm
    larger than that goes alone)."""
    batch: list[OutboxEntry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) == BATCH_SIZE or size + len(entry.body) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += len(entry.body) + 1
    if batch:
        yield batch


def _results(text: str, expected: int) -> list[dict[str, Any]] | None:
    try:
        results = orjson.loads(text).get("results")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(results, list) or len(results) != expected:
        return None
    if not all(isinstance(r, dict) for r in results):
        return None
    return results
