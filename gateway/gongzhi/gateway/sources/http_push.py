"""Carrier platform HTTP push, served by the gateway on a port of its own (HTTPS when a
certificate and key are configured): what CTWing and OneNET sources share.

A push is answered only once it is durable: the body is checked (size, signature, shape), its
messages are committed to the source's spool (``http_push_spool``), then the platform gets 200.
That is the front end's work (``http_push_front``), in a process of its own
(``http_push_process``): the port's parsing and commits and the pipeline's work then each have a
core. Here a thread hands the spooled messages to the pipeline (the ingest queue, blocking while
it is full) and marks them done once the pipeline has committed them (``ack``); after a restart
the messages not done are handed over again. A message delivered again (the platform retrying
after a lost answer) has the same key and is spooled once. A front end that ends is started
again (after a wait that grows while it keeps failing); meanwhile the source is down.

Answers: 200 spooled (or already spooled: a retry); 400 malformed, with the reason, and the body
kept as a dead letter with it; 401 a bad signature or token (counted, not kept: anyone can send
garbage); 413 a body over ``max_body`` (counted); 503 the spool cannot be written (the platform
delivers again later).

Each carrier (``Carrier``, ``http_push_carrier``) says how its platform verifies the URL (GET),
which pushes it admits and what their messages say (``Uplink``); ``PushSource`` does the rest.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence

from gongzhi.core.config_kit import to_ms
from gongzhi.core.errors import ConfigError, RejectedMessage
from gongzhi.devices.catalogue import spec_for
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.messages import Presence, RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import (
    SourceContext,
    SourceHealth,
    native_event,
    native_status,
    native_telemetry,
)
from gongzhi.gateway.sources.http_push_carrier import (
    REFUSED_TOPIC,
    Carrier,
    PushOptions,
    Refused,
    tls_context,
)
from gongzhi.gateway.sources.http_push_front import FrontSpec
from gongzhi.gateway.sources.http_push_process import FrontFailed, FrontProcess
from gongzhi.gateway.sources.http_push_spool import PushSpool
from gongzhi.gateway.sources.http_push_uplink import Uplink
from gongzhi.gateway.sources.mapping import CompiledMapping, FieldMapping
from gongzhi.gateway.sources.piped_child import Restarts

log = logging.getLogger(__name__)

HAND_OVER_BATCH = 500
PRUNE_EVERY_S = 600.0


def record_for(registry: Registry, identities: Sequence[str]) -> DeviceRecord:
    for identity in identities:
        record = registry.by_external_id(identity)
        if record is not None:
            return record
    raise RejectedMessage(
        Reason.UNKNOWN_DEVICE,
        f"no device of the registry has the external_id {' or '.join(identities)}",
    )


class UplinkTranslator:
    """Our contract's messages for the uplinks of one spooled message (worker thread). The
    values of uplinks of one device at one time (a OneNET reading's data points) make one
    telemetry message; metrics the device's type does not have are left out (counted)."""

    def __init__(self, mapping: FieldMapping, ignored: Callable[[str, int], None]) -> None:
        self._mapping = CompiledMapping(mapping)
        self._ignored = ignored

    def translate(
        self, raw: RawMessage, registry: Registry, uplinks: Sequence[Uplink]
    ) -> list[RawMessage]:
        out: list[RawMessage] = []
        readings: dict[tuple[str, int | None], tuple[DeviceRecord, dict[str, float]]] = {}
        for uplink in uplinks:
            record = record_for(registry, uplink.identities)
            if uplink.presence is not None:
                out.append(native_status(raw, record, uplink.presence is Presence.ONLINE))
                continue
            mapped = self._mapping.apply(uplink.fields)
            if not mapped.matched:
                raise self._mapping.nothing_matched()
            metrics = spec_for(record.type).metrics
            values = {k: v for k, v in mapped.values.items() if k in metrics}
            if len(values) < len(mapped.values):
                self._ignored("metric_of_another_type", len(mapped.values) - len(values))
            if values:
                key = (record.device_id, uplink.ts_ms)
                if key in readings:
                    readings[key][1].update(values)
                else:
                    readings[key] = (record, values)
            for event, detail in mapped.events:
                out.append(native_event(raw, record, event, detail, uplink.ts_ms))
        telemetry = [
            native_telemetry(raw, record, values, ts)
            for (_, ts), (record, values) in readings.items()
        ]
        return telemetry + out


class PushSource:
    """One push source (a ``Source``): its front end (the HTTP port, in a process of its own:
    ``http_push_process``) and, here, the hand-over thread and the translation."""

    def __init__(self, context: SourceContext, options: PushOptions, carrier: Carrier) -> None:
        self._ctx = context
        self._options = options
        self._carrier = carrier
        self._spool = PushSpool(context.state_dir / "push_spool.db")
        self._wake = threading.Event()
        self._front: FrontProcess | None = None
        self._port = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem = ""
        self._translator = UplinkTranslator(options.mapping, context.counters.ignored)
        self._rng = random.Random()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def front_pid(self) -> int | None:
        """The front end's process (None before the start)."""
        return self._front.pid if self._front is not None else None

    def start(self) -> None:
        tls_context(self._options, self._ctx.config_dir)  # unusable: said here, at start
        self._spool.open()
        host, port = self._options.host_port
        self._front = front = FrontProcess(
            FrontSpec(
                self._ctx.source_id,
                self._options,
                self._carrier,
                self._spool.path,
                self._ctx.config_dir,
                port,
                logging.getLogger().getEffectiveLevel(),
            ),
            self,
            on_exit=self._wake.set,
        )
        try:
            self._port = front.start()
        except BaseException:
            self._front = None
            self._spool.close()
            raise
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._hand_over,
            args=(Restarts(front, self._stopping, self._rng),),
            name=f"push-{self._ctx.source_id}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "%s push source %s listening on %s:%d%s",
            self._carrier.name,
            self._ctx.source_id,
            host,
            self._port,
            self._options.path,
        )

    def close(self) -> None:
        # The hand-over first: it may be starting the front end again, which must not
        # outlive this. What the front end answers meanwhile is spooled for the next start.
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._front is not None:
            self._front.stop()  # it answers what it has read first
            self._front = None
        self._spool.close()

    def health(self) -> SourceHealth:
        if self._front is None or not self._front.running:
            return SourceHealth(False, "the push front end is not running")
        if self._problem:
            return SourceHealth(False, self._problem)
        return SourceHealth(True)

    # --- the front end's events (its reader thread) -----------------------------------

    def committed(self) -> None:
        self._wake.set()

    def refused(self, reason: str) -> None:
        self._ctx.counters.refused(reason)

    def duplicates(self, count: int) -> None:
        self._ctx.counters.duplicate(count)

    # --- the pipeline's side --------------------------------------------------------------

    def translate(self, raw: RawMessage, registry: Registry) -> Sequence[RawMessage]:
        if raw.topic.endswith("/" + REFUSED_TOPIC):
            try:  # the same decision as at receipt: its reason for the dead letter
                self._carrier.admit(raw.payload)
            except Refused as exc:
                raise RejectedMessage(exc.reason, exc.detail) from None
            raise RejectedMessage(Reason.BAD_SHAPE, "refused at receipt")
        return self._translator.translate(raw, registry, self._carrier.uplinks(raw.payload))

    def ack(self, messages: Sequence[RawMessage]) -> None:
        self._spool.mark_done([m.mid for m in messages])

    def _hand_over(self, restarts: Restarts) -> None:
        """Spooled messages to the ingest queue, in order (blocking while it is full); the
        front end started again when it ended."""
        last_id = 0
        next_prune = 0.0
        source_id = self._ctx.source_id
        while not self._stopping.is_set():
            self._wake.clear()
            front = self._front
            if front is not None and front.exited.is_set():
                self._restart(front, restarts)
            try:
                rows = self._spool.pending(last_id, HAND_OVER_BATCH)
            except Exception:
                log.exception("cannot read the push spool of %s", source_id)
                self._problem = "the push spool cannot be read"
                self._stopping.wait(1.0)
                continue
            if restarts.failures == 0:
                self._problem = ""
            for row in rows:
                topic = (
                    f"push/{source_id}"
                    if row.key[:1] != "!"
                    else f"push/{source_id}/{REFUSED_TOPIC}"
                )
                self._ctx.put(topic, row.body, mid=row.id)
                last_id = row.id
            now = self._ctx.clock.now_ms()
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY_S * 1000
                try:
                    self._spool.prune(now, to_ms(self._options.keep_keys_for))
                except Exception:
                    log.exception("cannot prune the push spool of %s", source_id)
            if len(rows) < HAND_OVER_BATCH:
                # The front end's commits wake this; the timeout reads what another front end
                # (a gateway started again beside one still finishing) committed.
                self._wake.wait(0.5)

    def _restart(self, front: FrontProcess, restarts: Restarts) -> None:
        """The front end started again after a wait (``Restarts``: its backoff)."""
        self._problem = f"the push front end ended (exit code {front.exit_code}); starting it again"
        try:
            restarts.attempt()
        except (FrontFailed, ConfigError) as exc:
            self._problem = f"the push front end cannot start: {exc}"
            front.exited.set()  # tried again after the next wait
