"""The push port's front end: the HTTP server, the checks of each push and the spool's commits.

It answers a push once the push is durable (``http_push``'s module text says why) and tells its
owner what happened through ``FrontEvents``: pushes committed (the hand-over has work), pushes
refused (401, 413) and retries recognised. It runs in a process of its own
(``http_push_process``), so that the port's parsing and commits never wait for the pipeline's
interpreter lock, nor the pipeline for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gongzhi.core.clock import Clock
from gongzhi.gateway.sources.http_push_carrier import Carrier, PushOptions, Refused, tls_context
from gongzhi.gateway.sources.http_push_server import Answer, PushHttpServer, PushRequest, Reply
from gongzhi.gateway.sources.http_push_spool import Item, PushSpool
from gongzhi.gateway.sources.http_push_uplink import content_key

log = logging.getLogger(__name__)

TOO_LARGE = "payload_too_large"
# A gateway started again at once after being killed: its earlier front end, which saw the
# gateway's pipe close, may still be answering its last pushes on the port.
BIND_WAIT_S = 5.0
OK = Answer(200)
UNWRITABLE = Answer(503, "the spool cannot be written; deliver again")
NOT_ALLOWED = Answer(405, "GET or POST", (("allow", "GET, POST"),))


class FrontEvents(Protocol):
    def committed(self) -> None:
        """New pushes are in the spool."""

    def refused(self, reason: str) -> None:
        """A push refused without being kept (a bad credential or signature, too large)."""

    def duplicates(self, count: int) -> None:
        """``count`` messages were retries of messages spooled already."""


@dataclass(frozen=True)
class FrontSpec:
    """What a front end needs, sent to its process (options and carrier pickled)."""

    source_id: str
    options: PushOptions
    carrier: Carrier
    spool_path: Path
    config_dir: Path
    port: int  # the port to bind (the options' own, or the one a first start was given)
    log_level: int = logging.INFO


class PushFront:
    def __init__(self, spec: FrontSpec, events: FrontEvents, clock: Clock) -> None:
        self._spec = spec
        self._clock = clock
        self._options = spec.options
        self._carrier = spec.carrier
        self._events = events
        self._spool = PushSpool(spec.spool_path, checkpoints=False)  # the gateway's do
        self._waiting: list[tuple[list[Item], Callable[[list[bool] | Exception], None]]] = []
        self._server: PushHttpServer | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def start(self) -> None:
        context = tls_context(self._options, self._spec.config_dir)
        self._spool.open()
        host, _ = self._options.host_port
        self._server = PushHttpServer(
            self.handle,
            host,
            self._spec.port,
            name=f"push-http-{self._spec.source_id}",
            max_body=self._options.max_body,
            ssl_context=context,
            on_too_large=lambda: self._events.refused(TOO_LARGE),
            bind_wait_s=BIND_WAIT_S,
        )
        try:
            self._server.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._spool.close()

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
            self._events.refused("bad_signature")
        return verified

    def _push(self, request: PushRequest) -> Reply:
        received_ms = self._clock.now_ms()
        body = request.body
        try:
            self._carrier.authorize(request.query, request.headers)
            items = self._carrier.admit(body)
        except Refused as exc:
            if exc.status != 400:
                self._events.refused(exc.reason)
                return Answer(exc.status, f"{exc.reason}: {exc.detail}")
            # Malformed: kept (as a dead letter, through the pipeline) and answered 400.
            return self._spooled(
                [("!" + content_key(body.decode("utf-8", "replace")), received_ms, body)],
                Answer(400, f"{exc.reason}: {exc.detail}"),
            )
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
                self._events.duplicates(repeats)
            reply.set_result(then)

        self._waiting.append((items, settle))
        if len(self._waiting) == 1:
            loop.call_soon(self._commit_waiting)
        return reply

    def _commit_waiting(self) -> None:
        """Group commit, once the requests read in this turn of the server's loop are parsed:
        one transaction for all of them, then their answers (a commit without fsync: WAL,
        synchronous=NORMAL)."""
        batch, self._waiting = self._waiting, []
        try:
            fresh = self._spool.add([item for items, _ in batch for item in items])
        except Exception as exc:
            log.exception(
                "cannot write %d pushes to the spool of %s", len(batch), self._spec.source_id
            )
            for _, settle in batch:
                settle(exc)
            return
        if any(fresh):
            self._events.committed()  # before the answers: the owner hears of them first
        start = 0
        for items, settle in batch:
            settle(fresh[start : start + len(items)])
            start += len(items)
