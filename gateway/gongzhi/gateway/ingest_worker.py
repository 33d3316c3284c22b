"""The two threads behind the MQTT transport.

The worker takes batches from the ``IngestQueue`` and prepares them (decode, validate, dedup,
detect; alarms and dead letters committed), and runs the periodic jobs (detection ticks, registry
checks, store maintenance). The storer writes each prepared batch's telemetry, then acknowledges
the batch's messages. Batches pass between them through a small bounded queue in arrival order,
so acknowledgements stay in order, the store's I/O overlaps the next batch's decoding, and a slow
store slows intake instead of filling memory.

Progress: the time of the last acknowledged batch (or of the last look at an empty queue) is
kept; ``stalled_ms`` is how long there has been none while messages wait, which is what a store
retried for ever, or any other wedge, looks like from outside (``/readyz``, the wall).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from gongzhi.core.clock import Clock
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import DeadLetter, RawMessage
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.pipeline import IngestPipeline, PreparedBatch, StopRequested
from gongzhi.gateway.reasons import Reason

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # half the Receive Maximum: one batch in work while the next arrives
STAGED_BATCHES = 2
LINGER_S = 0.01  # how long a short batch waits for company (adds at most this to latency)

Ack = Callable[[Sequence[RawMessage]], None]
# Dead letters a stage beside the pipeline refused while the batch was prepared (parts of an
# outside source's message); recorded before the batch is acknowledged.
SideLetters = Callable[[], list[DeadLetter]]
Periodic = tuple[float, Callable[[], None]]  # (interval in seconds, job)


class IngestWorker:
    def __init__(self, source: IngestQueue, pipeline: IngestPipeline, ack: Ack,
                 dead_letters: DeadLetterStore, metrics: GatewayMetrics, clock: Clock, *,
                 on_alarms: Callable[[], None], periodic: Sequence[Periodic] = (),
                 stopping: threading.Event | None = None,
                 side_letters: SideLetters | None = None) -> None:
        self._source = source
        self._pipeline = pipeline
        self._ack = ack
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._clock = clock
        self._on_alarms = on_alarms
        self._periodic = list(periodic)
        self._stopping = stopping or threading.Event()
        self._side_letters = side_letters
        self._staged: queue.Queue[tuple[list[RawMessage], PreparedBatch | None] | None] = (
            queue.Queue(maxsize=STAGED_BATCHES))
        self._threads: list[threading.Thread] = []
        self.last_batch_latency_ms = 0
        self._progress_ms = clock.now_ms()
        self._in_flight = 0  # batches taken and not yet acknowledged
        self._count_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stalled_ms(self, waiting: int) -> int:
        """How long no batch has been acknowledged while ``waiting`` messages (or batches in
        hand) wait; 0 when the worker is keeping up or has nothing to do."""
        if waiting == 0 and self._in_flight == 0:
            return 0
        return max(0, self._clock.now_ms() - self._progress_ms)

    def start(self) -> None:
        self._progress_ms = self._clock.now_ms()
        self._threads = [threading.Thread(target=self._work, name="ingest-worker", daemon=True),
                         threading.Thread(target=self._store, name="ingest-storer", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Finish the batches in hand (stored and acknowledged), leave the rest to the broker."""
        self._stopping.set()
        if not self._threads:
            return
        worker, storer = self._threads
        worker.join(timeout=30)
        self._staged.put(None)
        storer.join(timeout=30)
        self._threads = []

    def _work(self) -> None:
        due = [time.monotonic()] * len(self._periodic)
        while not self._stopping.is_set():
            batch = self._source.take(BATCH_SIZE, timeout_s=0.2, linger_s=LINGER_S)
            if not batch:
                with self._count_lock:
                    if self._in_flight == 0:
                        self._progress_ms = self._clock.now_ms()  # idle is not a stall
            elif not self._prepare(batch):
                return
            now = time.monotonic()
            for i, (interval, job) in enumerate(self._periodic):
                if now >= due[i]:
                    due[i] = now + interval
                    try:
                        job()
                    except Exception:  # a periodic job must not end the worker
                        log.exception("periodic gateway job failed")

    def _prepare(self, batch: list[RawMessage]) -> bool:
        prepared: PreparedBatch | None
        with self._count_lock:
            self._in_flight += 1
        try:
            prepared = self._pipeline.prepare(batch)
        except StopRequested:
            return False  # left unacknowledged: the broker redelivers it
        except Exception:
            log.exception("batch of %d failed; recording it as dead letters", len(batch))
            self._salvage(batch)
            prepared = None
        if self._side_letters is not None:
            self._record(self._side_letters())
        if prepared is not None and prepared.alarms:
            self._on_alarms()
        self._staged.put((batch, prepared))
        return True

    def _store(self) -> None:
        while True:
            item = self._staged.get()
            if item is None:
                return
            batch, prepared = item
            if prepared is not None:
                try:
                    self._pipeline.store(prepared)
                except StopRequested:
                    return  # this batch and the staged ones stay unacknowledged
                except Exception:
                    log.exception("storing a batch of %d failed", len(batch))
                    self._salvage(batch)
            self._ack(batch)
            now_ms = self._clock.now_ms()
            self.last_batch_latency_ms = now_ms - batch[0].received_ms
            with self._count_lock:
                self._in_flight -= 1
                self._progress_ms = now_ms

    def _salvage(self, batch: list[RawMessage]) -> None:
        self._record([DeadLetter(r.topic, r.payload, r.received_ms, Reason.INTERNAL_ERROR,
                                 "the batch failed; see the gateway log") for r in batch])

    def _record(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        try:
            self._dead_letters.add(letters)
        except Exception:
            log.exception("cannot record %d dead letters", len(letters))
        for letter in letters:
            self._metrics.inc("messages_rejected_total", reason=letter.reason)
