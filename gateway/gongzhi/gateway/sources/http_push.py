"""Carrier platform HTTP push, served by the gateway on a port of its own (HTTPS when a
certificate and key are configured): what CTWing and OneNET sources share.

A push is answered only once it is durable: the body is checked (size, signature, shape), its
messages are committed to the source's spool (``http_push_spool``), then the platform gets 200.
Then a thread of the source hands the spooled messages to the pipeline (the ingest queue,
blocking while it is full) and marks them done once the pipeline has committed them (``ack``);
after a restart the messages not done are handed over again. A message delivered again (the
platform retrying after a lost answer) has the same key and is spooled once.

Answers: 200 spooled (or already spooled: a retry); 400 malformed, with the reason, and the body
kept as a dead letter with it; 401 a bad signature or token (counted, not kept: anyone can send
garbage); 413 a body over ``max_body`` (counted); 503 the spool cannot be written (the platform
delivers again later).

Each carrier (``Carrier``) says how its platform verifies the URL (GET), which pushes it admits
and what their messages say (``Uplink``); ``PushSource`` does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, field_validator

from gongzhi.core.config_kit import STRICT_CONFIG, Duration, to_ms
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
from gongzhi.gateway.sources.http_push_server import Answer, PushHttpServer, PushRequest, Reply
from gongzhi.gateway.sources.http_push_spool import Item, PushSpool
from gongzhi.gateway.sources.http_push_uplink import Uplink, content_key
from gongzhi.gateway.sources.mapping import CompiledMapping, FieldMapping

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 256 * 1024
HAND_OVER_BATCH = 500
PRUNE_EVERY_S = 600.0
TOO_LARGE = "payload_too_large"
OK = Answer(200)
UNWRITABLE = Answer(503, "the spool cannot be written; deliver again")
NOT_ALLOWED = Answer(405, "GET or POST", (("allow", "GET, POST"),))


def _listen(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0.0.0.0:{value}"
    return value


class PushOptions(BaseModel):
    """Options every push source has (the kind adds its token and the like)."""

    model_config = STRICT_CONFIG

    listen: str = "0.0.0.0:8090"  # host:port (a port alone: every interface); port 0: any
    path: str = "/"
    tls_cert: Path | None = None  # both: HTTPS (relative to the sources file)
    tls_key: Path | None = None
    max_body: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = DEFAULT_MAX_BODY
    keep_keys_for: Duration = 86_400.0  # a retry within this is recognised as one
    mapping: FieldMapping  # the products' fields to catalogue metrics and events

    @field_validator("listen", mode="before")
    @classmethod
    def _listen_form(cls, value: Any) -> Any:
        value = _listen(value)
        if isinstance(value, str):
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError(f"listen must be host:port (e.g. 0.0.0.0:8090), got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _path_form(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', got {value!r}")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    """A push not admitted: the HTTP status and the reason (a dead-letter reason for 400)."""

    status: int
    reason: str
    detail: str


class Carrier(Protocol):
    """A platform's side of the push: verification, admission, decoding (pure but for the
    state a decoder keeps)."""

    name: str

    def verify_url(self, query: Mapping[str, str]) -> Answer | None:
        """The answer to the platform's GET (URL verification); None: not a verification."""
        ...

    def authorize(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        """Raises ``Refused`` (401) when the request's credential is wrong."""
        ...

    def admit(self, body: bytes) -> list[tuple[str, bytes]]:
        """The push's messages as ``(key, payload)`` to spool (a body's own signature is
        checked here); raises ``Refused``."""
        ...

    def uplinks(self, payload: bytes) -> list[Uplink]:
        """A spooled message's uplinks (worker thread); raises ``RejectedMessage``."""
        ...


REFUSED_TOPIC = "refused"  # a spooled body answered 400: translated to its dead letter


def tls_context(options: PushOptions, base: Path) -> ssl.SSLContext | None:
    """The server's TLS context, checked at start (``ConfigError`` when unusable)."""
    cert, key = options.tls_cert, options.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("tls_cert and tls_key go together (set neither for plain HTTP)")
    cert, key = base / cert, base / key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"HTTPS certificate and key unusable ({exc})",
                          source=f"{cert}, {key}") from None
    return context


def record_for(registry: Registry, identities: Sequence[str]) -> DeviceRecord:
    for identity in identities:
        record = registry.by_external_id(identity)
        if record is not None:
            return record
    raise RejectedMessage(Reason.UNKNOWN_DEVICE, "no device of the registry has the "
                                                 f"external_id {' or '.join(identities)}")


class UplinkTranslator:
    """Our contract's messages for the uplinks of one spooled message (worker thread). The
    values of uplinks of one device at one time (a OneNET reading's data points) make one
    telemetry message; metrics the device's type does not have are left out (counted)."""

    def __init__(self, mapping: FieldMapping, ignored: Callable[[str, int], None]) -> None:
        self._mapping = CompiledMapping(mapping)
        self._ignored = ignored

    def translate(self, raw: RawMessage, registry: Registry,
                  uplinks: Sequence[Uplink]) -> list[RawMessage]:
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
        telemetry = [native_telemetry(raw, record, values, ts)
                     for (_, ts), (record, values) in readings.items()]
        return telemetry + out


class PushSource:
    """One push source (a ``Source``): its HTTP server, spool and hand-over thread."""

    def __init__(self, context: SourceContext, options: PushOptions, carrier: Carrier) -> None:
        self._ctx = context
        self._options = options
        self._carrier = carrier
        self._spool = PushSpool(context.state_dir / "push_spool.db")
        self._wake = threading.Event()
        self._waiting: list[tuple[list[Item], Callable[[list[bool] | Exception], None]]] = []
        self._server: PushHttpServer | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem = ""
        self._translator = UplinkTranslator(options.mapping, context.counters.ignored)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def start(self) -> None:
        context = tls_context(self._options, self._ctx.config_dir)
        self._spool.open()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._hand_over, name=f"push-{self._ctx.source_id}",
                                        daemon=True)
        self._thread.start()
        host, port = self._options.host_port
        self._server = PushHttpServer(self.handle, host, port,
                                      name=f"push-http-{self._ctx.source_id}",
                                      max_body=self._options.max_body, ssl_context=context,
                                      on_too_large=lambda: self._refused(TOO_LARGE))
        try:
            self._server.start()
        except BaseException:
            self.close()
            raise
        log.info("%s push source %s listening on %s:%d%s", self._carrier.name,
                 self._ctx.source_id, host, self._server.port, self._options.path)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._spool.close()

    def health(self) -> SourceHealth:
        if self._server is None or not self._server.running:
            return SourceHealth(False, "the push server is not running")
        if self._problem:
            return SourceHealth(False, self._problem)
        return SourceHealth(True)

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

    def _hand_over(self) -> None:
        """Spooled messages to the ingest queue, in order (blocking while it is full)."""
        last_id = 0
        next_prune = 0.0
        source_id = self._ctx.source_id
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                rows = self._spool.pending(last_id, HAND_OVER_BATCH)
            except Exception:
                log.exception("cannot read the push spool of %s", source_id)
                self._problem = "the push spool cannot be read"
                self._stopping.wait(1.0)
                continue
            self._problem = ""
            for row in rows:
                topic = f"push/{source_id}" if row.key[:1] != "!" else \
                    f"push/{source_id}/{REFUSED_TOPIC}"
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
                self._wake.wait(1.0)

    # --- the HTTP side --------------------------------------------------------------------

    def handle(self, request: PushRequest) -> Reply:
        """The push port's requests: the source's one path, GET and POST (server thread)."""
        if request.path != self._options.path:
            return Answer(404, "not found")
        if request.method == "POST":
            return self._push(request)
        if request.method in ("GET", "HEAD"):
            return self._verify(request.query)
        return NOT_ALLOWED

    def _verify(self, query: Mapping[str, str]) -> Answer:
        verified = self._carrier.verify_url(query)
        if verified is None:
            return OK
        if verified.status == 401:
            self._refused("bad_signature")
        return verified

    def _push(self, request: PushRequest) -> Reply:
        received_ms = self._ctx.clock.now_ms()
        body = request.body
        try:
            self._carrier.authorize(request.query, request.headers)
            items = self._carrier.admit(body)
        except Refused as exc:
            if exc.status != 400:
                self._refused(exc.reason)
                return Answer(exc.status, f"{exc.reason}: {exc.detail}")
            # Malformed: kept (as a dead letter, through the pipeline) and answered 400.
            return self._spooled([("!" + content_key(body.decode("utf-8", "replace")),
                                   received_ms, body)],
                                 Answer(400, f"{exc.reason}: {exc.detail}"))
        return self._spooled([(key, received_ms, payload) for key, payload in items], OK)

    def _spooled(self, items: list[Item], then: Answer) -> Reply:
        """``then`` once ``items`` are durable (503 when they cannot be)."""
        if not items:
            return then
        assert self._server is not None
        loop = self._server.loop
        reply: asyncio.Future[Answer] = loop.create_future()

        def settle(result: list[bool] | Exception) -> None:
            if reply.done():
                return
            if isinstance(result, Exception):
                reply.set_result(UNWRITABLE)
                return
            repeats = len(result) - sum(result)
            if repeats:
                self._ctx.counters.duplicate(repeats)
            reply.set_result(then)

        self._waiting.append((items, settle))
        if len(self._waiting) == 1:
            loop.call_soon(self._commit_waiting)
        return reply

    def _commit_waiting(self) -> None:
        """Group commit, in the server's thread once the requests read in this turn of its
        loop are parsed: one transaction for all of them, then their answers. Not in a thread
        of its own: each hand-over between threads waits for the interpreter lock (up to its
        5 ms switch interval while the pipeline computes), and a push's answer would wait for
        two of them; a commit without fsync (WAL, synchronous=NORMAL) costs less."""
        batch, self._waiting = self._waiting, []
        try:
            fresh = self._spool.add([item for items, _ in batch for item in items])
        except Exception as exc:
            log.exception("cannot write %d pushes to the spool of %s", len(batch),
                          self._ctx.source_id)
            for _, settle in batch:
                settle(exc)
            return
        start = 0
        for items, settle in batch:
            settle(fresh[start:start + len(items)])
            start += len(items)
        if any(fresh):
            self._wake.set()

    def _refused(self, reason: str) -> None:
        self._ctx.counters.refused(reason)
