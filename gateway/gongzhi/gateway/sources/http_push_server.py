"""The push port's HTTP/1.1 server: httptools (the C parser uvicorn uses) on an asyncio protocol,
in a thread with its own event loop.

A carrier pushes thousands of small requests a second to one path. Through an ASGI server each
request costs a task, a request-response cycle and several message dictionaries: about 100 us
of CPU more than the push itself, measured at 136-165 us a request against 51-74 us here for
the same empty answer. Here a request is parsed into a ``PushRequest`` in the parser's
callbacks and handed to the source's handler, which answers at once (``Answer``) or later
(a future, resolved once the push is durable); answers go out in request order, so a client
that pipelines gets them in order.

What the server does besides: ``Expect: 100-continue``; a body over ``max_body`` answered 413
(declared too large: before the body is sent, and the connection closed); a request whose
line and headers are over ``MAX_HEAD`` answered 431; an unparsable request 400; keep-alive as
the request asks, idle connections closed after ``keep_alive_s``; HTTPS with an ``SSLContext``.
A handler that raises gets 500 (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import parse_qsl

import httptools

from gongzhi.core.asgi_thread import bind_socket

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_IN_FLIGHT = 64  # pipelined requests a connection may have unanswered before reading pauses
START_TIMEOUT_S = 10.0


class Answer(NamedTuple):
    """An HTTP answer in plain text."""

    status: int
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class PushRequest(NamedTuple):
    method: str
    path: str
    query: Mapping[str, str]  # the last of a repeated name wins
    headers: Mapping[str, str]  # by lower-case name
    body: bytes


Reply = Answer | asyncio.Future[Answer]
Handler = Callable[[PushRequest], Reply]


def encode_answer(answer: Answer, *, head_only: bool = False, close: bool = False) -> bytes:
    body = answer.text.encode()
    try:
        phrase = HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {answer.status} {phrase}",
             "content-type: text/plain; charset=utf-8", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    if close:
        lines.append("connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


_OK = encode_answer(Answer(200))  # the usual answer, encoded once
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Slot:
    """One request's place in its connection's answer order."""

    __slots__ = ("close", "data")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.close = False


class _Connection(asyncio.Protocol):
    def __init__(self, server: PushHttpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._slots: deque[_Slot] = deque()
        self._closing = False  # the transport is closed or closing
        self._deaf = False  # refused: whatever follows on this connection is not read
        self._paused = False
        self._last_active = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._begin()

    def _begin(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._head = 0
        self._refused: Answer | None = None

    # --- the transport's side ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self._deaf:
            return
        self._last_active = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse_now(Answer(400, "protocol upgrades are not served here"))
        except httptools.HttpParserError as exc:
            if not self._deaf:
                self._refuse_now(Answer(400, f"malformed HTTP request: {exc}"))

    def close(self) -> None:
        if self._transport is not None and not self._closing:
            self._closing = True
            self._transport.close()

    def idle(self) -> bool:
        return not self._slots

    # --- the parser's callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self._begin()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._grow_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        limit = self._server.max_body
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            # Not read: answered now and the connection closed (the body may never come).
            self._server.on_too_large()
            self._refuse_now(Answer(413, f"body over {limit} bytes"))
            return
        if self._headers.get("expect", "").lower() == "100-continue" and not self._deaf \
                and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        if self._refused is not None or self._deaf:
            return
        self._size += len(chunk)
        if self._size > self._server.max_body:
            self._refused = Answer(413, f"body over {self._server.max_body} bytes")
            self._chunks = []
        else:
            self._chunks.append(chunk)

    def on_message_complete(self) -> None:
        if self._deaf:
            return
        slot = _Slot()
        self._slots.append(slot)
        method = self._parser.get_method().decode("latin-1")
        keep_alive = self._parser.should_keep_alive()
        refused = self._refused
        if refused is not None:
            self._server.on_too_large()
            self._fill(slot, refused, method, close=True)
            return
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._fill(slot, Answer(400, "malformed request target"), method, close=True)
            return
        query = url.query
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        request = PushRequest(method, url.path.decode("latin-1"),
                              dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
                              if query else {}, self._headers, body)
        try:
            reply = self._server.handler(request)
        except Exception:
            log.exception("the push handler failed on %s %s", method, request.path)
            reply = Answer(500, "internal error")
        if isinstance(reply, Answer):
            self._fill(slot, reply, method, close=not keep_alive)
        else:
            reply.add_done_callback(lambda done: self._settled(slot, done, method, keep_alive))
            if len(self._slots) >= MAX_IN_FLIGHT and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()

    # --- answers, in order -------------------------------------------------------------

    def _settled(self, slot: _Slot, done: asyncio.Future[Answer], method: str,
                 keep_alive: bool) -> None:
        if done.cancelled():
            answer = Answer(503, "the server is stopping; deliver again")
        elif done.exception() is not None:
            log.error("a push failed: %s", done.exception())
            answer = Answer(500, "internal error")
        else:
            answer = done.result()
        self._fill(slot, answer, method, close=not keep_alive)

    def _fill(self, slot: _Slot, answer: Answer, method: str, *, close: bool) -> None:
        head_only = method == "HEAD"
        if answer.status == 200 and not answer.text and not answer.headers and not close \
                and not head_only:
            slot.data = _OK
        else:
            slot.data = encode_answer(answer, head_only=head_only, close=close)
        slot.close = close
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        while self._slots and self._slots[0].data is not None:
            slot = self._slots.popleft()
            if self._closing or transport is None:
                continue  # the client left: nobody to answer
            transport.write(slot.data)  # type: ignore[arg-type]
            if slot.close:
                self.close()
        if self._paused and len(self._slots) < MAX_IN_FLIGHT // 2 and transport is not None \
                and not self._closing:
            self._paused = False
            transport.resume_reading()

    def _refuse_now(self, answer: Answer) -> None:
        slot = _Slot()
        self._slots.append(slot)
        self._deaf = True
        self._fill(slot, answer, "POST", close=True)

    def _grow_head(self, size: int) -> None:
        self._head += size
        if self._head > MAX_HEAD and not self._deaf:
            self._refuse_now(Answer(431, f"request line and headers over {MAX_HEAD} bytes"))

    # --- idle keep-alive ---------------------------------------------------------------

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._server.keep_alive_s, self._check_idle)

    def _check_idle(self) -> None:
        if self._closing:
            return
        if self.idle() and time.monotonic() - self._last_active >= self._server.keep_alive_s:
            self.close()
        else:
            self._arm()


class PushHttpServer:
    """Serves ``handler`` on ``host:port`` from a thread of its own (``start`` binds: a port in
    use fails the start; port 0 gives a free port, ``port``). ``on_too_large`` is called for
    each body refused for its size."""

    def __init__(self, handler: Handler, host: str, port: int, *, name: str, max_body: int,
                 ssl_context: ssl.SSLContext | None = None, keep_alive_s: float = 30.0,
                 on_too_large: Callable[[], None] = lambda: None, grace_s: float = 2.0,
                 bind_wait_s: float = 0.0) -> None:
        self.handler = handler
        self.max_body = max_body
        self.keep_alive_s = keep_alive_s
        self.on_too_large = on_too_large
        self.connections: set[_Connection] = set()
        self._host, self._port, self._name = host, port, name
        self._ssl = ssl_context
        self._grace_s = grace_s
        self._bind_wait_s = bind_wait_s  # a port in use waited for (its holder closing)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bound_port = 0
        self._stop: asyncio.Event | None = None

    @property
    def port(self) -> int:
        return self._bound_port or self._port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (for a handler's futures)."""
        if self._loop is None:
            raise RuntimeError(f"the {self._name} server is not running")
        return self._loop

    def start(self) -> None:
        sock = bind_socket(self._host, self._port, self._bind_wait_s)
        self._bound_port = int(sock.getsockname()[1])
        started = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                server = await loop.create_server(lambda: _Connection(self), sock=sock,
                                                  ssl=self._ssl, backlog=1024)
            except BaseException as exc:  # handed to start()
                failure.append(exc)
                started.set()
                return
            self._loop = loop
            started.set()
            await self._stop.wait()
            server.close()
            deadline = loop.time() + self._grace_s
            while any(not c.idle() for c in self.connections) and loop.time() < deadline:
                await asyncio.sleep(0.02)  # answers under way (spool commits) go out first
            for connection in list(self.connections):
                connection.close()
            await server.wait_closed()

        def run() -> None:
            try:
                asyncio.run(serve())
            except Exception:
                log.exception("the %s server stopped", self._name)
            finally:
                self._loop = None
                started.set()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S) or failure or self._loop is None:
            self.stop()
            sock.close()
            raise RuntimeError(f"the {self._name} server did not start"
                               + (f": {failure[0]}" if failure else ""))

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=self._grace_s + 5)
            self._thread = None
