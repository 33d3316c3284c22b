"""One batch of raw messages through the gateway: decode, validate, dedup, store, detect, outbox.

``handle`` returns only once everything the batch produced is committed (telemetry stored, dead
letters recorded, alarms in the outbox): the caller may then acknowledge the batch to the broker.
A message never stops the pipeline: a refusal becomes a dead letter, an unexpected exception a
dead letter with reason ``internal_error``. A storage error is retried (with backoff) until it
succeeds or the gateway stops; the batch is then left unacknowledged and the broker redelivers it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gongzhi.core.alarms import Alarm
from gongzhi.core.clock import Clock
from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.dedup import ArrivalTracker
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import (
    DeadLetter,
    DeviceMessage,
    RawMessage,
    StatusChange,
    Telemetry,
)
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.reasons import Reason

log = logging.getLogger(__name__)
T = TypeVar("T")


class TelemetrySink(Protocol):
    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        """Store durably (or spool); returns the number of points taken."""
        ...


class Detector(Protocol):
    def process(self, messages: Sequence[DeviceMessage]) -> list[Alarm]: ...

    def tick(self, now_ms: int) -> list[Alarm]: ...


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch past detection, with its telemetry still to store."""

    alarms: list[Alarm]
    telemetry: list[Telemetry]
    accepted: int
    now_ms: int


class StopRequested(Exception):
    """The gateway is stopping while a store keeps failing: leave the batch unacknowledged."""


class IngestPipeline:
    def __init__(self, *, decoder: Decoder, detector: Detector, sink: TelemetrySink,
                 outbox: AlarmOutbox, dead_letters: DeadLetterStore, states: DeviceStateTracker,
                 metrics: GatewayMetrics, clock: Clock, partition: Partition | None = None,
                 stopping: threading.Event | None = None, retry_s: float = 0.5) -> None:
        self.decoder = decoder
        self.detector = detector
        self.arrivals = ArrivalTracker()
        self._sink = sink
        self._outbox = outbox
        self._dead_letters = dead_letters
        self._states = states
        self._metrics = metrics
        self._clock = clock
        self._partition = partition or Partition()
        self._stopping = stopping or threading.Event()
        self._retry_s = retry_s

    def handle(self, batch: Sequence[RawMessage]) -> list[Alarm]:
        """Process and commit a batch; returns the alarms it queued."""
        prepared = self.prepare(batch)
        self.store(prepared)
        return prepared.alarms

    def prepare(self, batch: Sequence[RawMessage]) -> PreparedBatch:
        """Everything but the telemetry store: decode, validate, dedup, detect; dead letters and
        alarms committed (alarms first: they must not wait for telemetry storage)."""
        metrics = self._metrics
        metrics.inc("messages_received_total", len(batch))
        metrics.inc("batches_total")
        accepted: list[DeviceMessage] = []
        fresh: list[DeviceMessage] = []  # accepted and not older than the device's newest
        telemetry: list[Telemetry] = []
        dead: list[DeadLetter] = []
        skipped = duplicates = late = 0
        corrected_before = self.decoder.clock_corrected
        arrivals = self.arrivals
        for raw in batch:
            if not self._owns(raw.topic):
                skipped += 1
                continue
            try:
                messages = self.decoder.decode(raw)
            except RejectedMessage as exc:
                dead.append(DeadLetter(raw.topic, raw.payload, raw.received_ms, exc.reason,
                                       exc.detail))
                continue
            except Exception as exc:  # the gateway never dies on a message
                log.exception("unexpected error decoding a message on %s", raw.topic[:200])
                dead.append(DeadLetter(raw.topic, raw.payload, raw.received_ms,
                                       Reason.INTERNAL_ERROR, repr(exc)[:500]))
                continue
            for message in messages:
                if isinstance(message, StatusChange):
                    accepted.append(message)
                    fresh.append(message)
                    continue
                if arrivals.is_duplicate(message.device_id, message.seq, message.ts_ms,
                                         message.device_clock):
                    duplicates += 1
                    continue
                accepted.append(message)
                if isinstance(message, Telemetry):
                    telemetry.append(message)
                    if not arrivals.is_newest(message.device_id, message.ts_ms):
                        late += 1  # stored, but must not rewind the detectors
                        continue
                fresh.append(message)
        now_ms = self._clock.now_ms()
        alarms = self._detect(fresh, dead)
        queued = self._durably(lambda: self._outbox.add(alarms, now_ms))
        self._durably(lambda: self._dead_letters.add(dead))
        self._states.observe(accepted)
        for letter in dead:
            metrics.inc("messages_rejected_total", reason=letter.reason)
        metrics.inc("messages_skipped_total", skipped)
        metrics.inc("duplicates_total", duplicates)
        metrics.inc("out_of_order_total", late)
        metrics.inc("clock_corrected_total", self.decoder.clock_corrected - corrected_before)
        metrics.inc("alarms_outboxed_total", queued)
        return PreparedBatch(alarms, telemetry, len(accepted), now_ms)

    def store(self, prepared: PreparedBatch) -> None:
        """Store the batch's telemetry (retried until it succeeds or the gateway stops); only
        then are its messages counted as processed."""
        telemetry = prepared.telemetry
        stored = (self._durably(lambda: self._sink.write(telemetry, prepared.now_ms))
                  if telemetry else 0)
        metrics = self._metrics
        metrics.inc("telemetry_points_stored_total", stored)
        metrics.inc("telemetry_points_expired_total",
                    sum(len(m.values) for m in telemetry) - stored)
        metrics.inc("messages_processed_total", prepared.accepted)

    def tick(self, now_ms: int) -> list[Alarm]:
        """Time-driven detection (heartbeats, last wills, offline clusters; telemetry rules move
        only on readings); alarms go to the outbox."""
        try:
            alarms = self.detector.tick(now_ms)
        except Exception:
            log.exception("detection tick failed")
            self._metrics.inc("detection_errors_total")
            return []
        queued = self._durably(lambda: self._outbox.add(alarms, now_ms))
        self._metrics.inc("alarms_outboxed_total", queued)
        return alarms

    def _owns(self, topic: str) -> bool:
        partition = self._partition
        if partition.is_whole:
            return True
        parts = topic.split("/", 3)
        if len(parts) < 3:
            return partition.index == 0  # malformed topics: one replica records them
        building = None
        if partition.by_building:
            record = self.decoder.registry.get(parts[2])
            building = record.location.building if record is not None else None
        return partition.owns(parts[1], building)

    def _detect(self, messages: list[DeviceMessage], dead: list[DeadLetter]) -> list[Alarm]:
        if not messages:
            return []
        try:
            return self.detector.process(messages)
        except Exception:
            log.exception("detection failed on a batch of %d; isolating", len(messages))
            self._metrics.inc("detection_errors_total")
        alarms: list[Alarm] = []
        for message in messages:  # find the message(s) the engine chokes on
            try:
                alarms += self.detector.process([message])
            except Exception as exc:
                dead.append(DeadLetter(f"estate/{message.estate_id}/{message.device_id}/-",
                                       repr(message).encode()[:1000], message.received_ms,
                                       Reason.INTERNAL_ERROR, f"detection: {exc!r}"[:500]))
        return alarms

    def _durably(self, action: Callable[[], T]) -> T:
        delay = self._retry_s
        while True:
            try:
                return action()
            except Exception:
                if self._stopping.is_set():
                    raise StopRequested() from None
                log.exception("store write failed; retrying in %.1f s", delay)
                self._metrics.inc("storage_retries_total")
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
