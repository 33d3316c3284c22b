"""An ASGI 3 application (Starlette, or a coroutine taking scope, receive and send) served by
uvicorn in a thread with its own event loop, for a process whose main work is elsewhere (the
gateway's status port, a carrier's push port).

The socket is bound in ``start``, not in the constructor, so a port in use fails the start
loudly (``ConfigError``) and port 0 gives a free port (``port``). The server does not touch the
process's logging configuration nor its signal handlers (it is not on the main thread).
``stop`` lets the requests in progress finish for at most ``grace_s`` and returns once the
thread has ended.

HTTP/1.1 is parsed by httptools (uvicorn's C parser): uvicorn's pure-Python h11 parser costs
several times more CPU a request, which a busy port (a carrier's pushes) cannot afford.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from gongzhi.core.errors import ConfigError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class ThreadedAsgiServer:
    def __init__(self, app: ASGIApp, host: str, port: int, *, name: str,
                 grace_s: int = 2, **uvicorn_options: Any) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._name = name
        self._grace_s = grace_s
        self._options = uvicorn_options
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._socket.getsockname()[1]) if self._socket is not None else self._port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._socket = bind_socket(self._host, self._port)
        config = uvicorn.Config(self._app, log_config=None, log_level="warning",
                                access_log=False, lifespan="off", loop="asyncio", http="httptools",
                                interface="asgi3",
                                timeout_graceful_shutdown=self._grace_s, **self._options)
        self._server = uvicorn.Server(config)
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._server, self._socket,
                                                                started),
                                        name=self._name, daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S) or not self._server.started:
            self.stop()
            raise RuntimeError(f"the {self._name} server did not start")

    def _run(self, server: uvicorn.Server, sock: socket.socket,
             started: threading.Event) -> None:
        async def serve() -> None:
            task = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            started.set()
            await task

        try:
            asyncio.run(serve())
        except Exception:
            log.exception("the %s server stopped", self._name)
        finally:
            started.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self._grace_s + 5)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None


def bind_socket(host: str, port: int, wait_s: float = 0.0) -> socket.socket:
    """A listening socket; a port in use is waited for up to ``wait_s`` (a process that held
    it may still be closing), then ``ConfigError``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _bind(host, port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        time.sleep(0.05)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so;
    # without it every answer waits for the client's delayed acknowledgement (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock
