"""One batch of raw messages through the gateway: decode, validate, dedup, store, detect, outbox.

``handle`` returns only once everything the batch produced is committed (telemetry stored, dead
letters recorded, alarms in the outbox): the caller may then acknowledge the batch to the broker.
A message never stops the pipeline: a refusal becomes a dead letter, an unexpected exception a
dead letter with reason ``internal_error``, an alarm or a point that cannot be serialised or
bound (``is_data_error``: the same data would fail however often it is tried) a dead letter with
reason ``unstorable``; the rest of the batch goes on. Any other store error is an outage: retried
(with backoff) until it succeeds or the gateway stops; the batch is then left unacknowledged and
the broker redelivers it.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from gongzhi.core.alarms import Alarm
from gongzhi.core.backoff import Backoff
from gongzhi.core.clock import Clock
from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.dedup import ArrivalTracker
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import (
    DeadLetter,
    DeviceEvent,
    DeviceMessage,
    RawMessage,
    StatusChange,
    Telemetry,
)
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox, EncodedAlarm, UnstorableAlarm, encode_alarm
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.reasons import Reason

log = logging.getLogger(__name__)
T = TypeVar("T")
STORE_RETRY_MAX_S = 30.0  # the longest wait between two tries of a failing store write


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


class Unstorable(Exception):
    """A store refused the data itself (``is_data_error``); retrying it would fail again."""


# Errors that say the data cannot be serialised or bound, whatever the state of the store. Any
# other error (sqlite3.OperationalError: locked, disk full, I/O; OSError; a remote store's
# transport errors) may pass, and is retried.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, ValueError, OverflowError, RecursionError, sqlite3.InterfaceError,
    sqlite3.DataError, UnstorableAlarm)


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DATA_ERRORS)


def _device_topic(estate_id: str, device_id: str) -> str:
    # Not an MQTT topic: where an alarm or a point came from, for the dead-letter record.
    return f"estate/{estate_id}/{device_id}/-"


def _as_payload(thing: object) -> bytes:
    return repr(thing).encode("utf-8", "backslashreplace")[:4096]


class IngestPipeline:
    def __init__(self, *, decoder: Decoder, detector: Detector, sink: TelemetrySink,
                 outbox: AlarmOutbox, dead_letters: DeadLetterStore, states: DeviceStateTracker,
                 metrics: GatewayMetrics, clock: Clock, partition: Partition | None = None,
                 stopping: threading.Event | None = None, retry_s: float = 0.5,
                 rng: random.Random | None = None) -> None:
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
        self._retry = Backoff(retry_s, max(retry_s, STORE_RETRY_MAX_S), floor_s=retry_s / 2)
        self._rng = rng or random.Random()

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
        dropped_details: list[DeadLetter] = []  # events kept; their detail kept here, counted
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
                if isinstance(message, DeviceEvent) and message.dropped_detail is not None:
                    dropped_details.append(DeadLetter(raw.topic, raw.payload, raw.received_ms,
                                           Reason.BAD_DETAIL,
                                           f"event kept, detail dropped: "
                                           f"{message.dropped_detail}"))
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
        alarms, queued = self._queue_alarms(alarms, now_ms, dead)
        self._record(dead)
        self._record(dropped_details, counter="event_details_dropped_total")
        self._states.observe(accepted)
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
        stored, refused = self._write_telemetry(telemetry, prepared.now_ms)
        metrics = self._metrics
        metrics.inc("telemetry_points_stored_total", stored)
        refused_ids = {id(m) for m in refused}
        metrics.inc("telemetry_points_expired_total",
                    sum(len(m.values) for m in telemetry if id(m) not in refused_ids) - stored)
        metrics.inc("messages_processed_total", prepared.accepted - len(refused))

    def tick(self, now_ms: int) -> list[Alarm]:
        """Time-driven detection (heartbeats, last wills, offline clusters; telemetry rules move
        only on readings); alarms go to the outbox."""
        try:
            alarms = self.detector.tick(now_ms)
        except Exception:
            log.exception("detection tick failed")
            self._metrics.inc("detection_errors_total")
            return []
        dead: list[DeadLetter] = []
        alarms, queued = self._queue_alarms(alarms, now_ms, dead)
        self._record(dead)
        self._metrics.inc("alarms_outboxed_total", queued)
        return alarms

    def _queue_alarms(self, alarms: list[Alarm], now_ms: int,
                      dead: list[DeadLetter]) -> tuple[list[Alarm], int]:
        """Commit the alarms to the outbox; one that cannot be serialised or stored becomes a
        dead letter (the others are queued). Returns the alarms queued and how many were new."""
        encoded: list[tuple[Alarm, EncodedAlarm]] = []
        for alarm in alarms:
            try:
                encoded.append((alarm, encode_alarm(alarm)))
            except UnstorableAlarm as exc:
                dead.append(self._unstorable_alarm(alarm, now_ms, str(exc)))
        new, refused = self._store_each(
            encoded, lambda items: self._outbox.add_encoded([e for _, e in items], now_ms))
        for (alarm, _), why in refused:
            dead.append(self._unstorable_alarm(alarm, now_ms, f"outbox: {why}"))
        failed = {id(alarm) for (alarm, _), _ in refused}
        return [a for a, _ in encoded if id(a) not in failed], new

    @staticmethod
    def _unstorable_alarm(alarm: Alarm, now_ms: int, why: str) -> DeadLetter:
        log.error("alarm %s of %s cannot be stored (%s); recorded as a dead letter",
                  alarm.alarm_id, alarm.device_id, why[:200])
        return DeadLetter(_device_topic(alarm.estate_id, alarm.device_id), _as_payload(alarm),
                          now_ms, Reason.UNSTORABLE, why[:500])

    def _record(self, dead: list[DeadLetter],
                counter: str = "messages_rejected_total") -> None:
        """Commit the dead letters and count them (by reason, in ``counter``). A letter whose
        content the store refuses is kept without its payload: a refusal is always recorded and
        counted."""

        def add(letters: Sequence[DeadLetter]) -> int:
            self._dead_letters.add(letters)
            return len(letters)

        _, refused = self._store_each(dead, add)
        bare = [DeadLetter(_device_topic("-", "-"), b"", letter.received_ms, letter.reason,
                           f"unrecordable: {why}"[:500]) for letter, why in refused]
        if bare:
            log.error("%d dead letters kept without their content", len(bare))
            self._durably(lambda: self._dead_letters.add(bare))
        for letter in dead:
            self._metrics.inc(counter, reason=letter.reason)

    def _write_telemetry(self, telemetry: list[Telemetry],
                         now_ms: int) -> tuple[int, list[Telemetry]]:
        """Store the points; returns how many were taken and the messages the store refused
        (recorded as dead letters)."""
        stored, refused = self._store_each(telemetry,
                                           lambda items: self._sink.write(items, now_ms))
        self._record([DeadLetter(_device_topic(m.estate_id, m.device_id), _as_payload(m),
                                 m.received_ms, Reason.UNSTORABLE, f"telemetry store: {why}"[:500])
                      for m, why in refused])
        return stored, [m for m, _ in refused]

    def _store_each(self, items: Sequence[T], write: Callable[[Sequence[T]], int]
                    ) -> tuple[int, list[tuple[T, Unstorable]]]:
        """``write(items)`` durably; when the store refuses the data, each item alone, so one
        bad item costs only itself. Returns the sum of what ``write`` returned and the items
        refused, with why."""
        if not items:
            return 0, []
        try:
            return self._durably(lambda: write(items)), []
        except Unstorable as exc:
            log.error("a store refused a batch's data (%s); writing it item by item", exc)
        taken = 0
        refused: list[tuple[T, Unstorable]] = []
        for item in items:
            try:
                taken += self._durably(partial(write, [item]))
            except Unstorable as exc:
                refused.append((item, exc))
        return taken, refused

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
        """``action()``, retried with backoff while the store fails; ``Unstorable`` at once
        when the error is the data's (retrying would fail for ever and hold every device's
        messages behind this one)."""
        failures = 0
        while True:
            try:
                return action()
            except Exception as exc:
                if is_data_error(exc):
                    raise Unstorable(repr(exc)[:500]) from exc
                if self._stopping.is_set():
                    raise StopRequested() from None
                failures += 1
                delay = self._retry.delay(failures, self._rng)
                log.exception("store write failed; retrying in %.1f s", delay)
                self._metrics.inc("storage_retries_total")
                self._stopping.wait(delay)
