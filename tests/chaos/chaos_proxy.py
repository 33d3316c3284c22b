"""A TCP proxy the fault tests put between two real processes, to cut the line (a database
restart as the client sees it: every connection reset, new ones refused) or to slow the answers
(a slow consumer) without touching the server behind it, which may be shared."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

CHUNK = 65_536


class TcpProxy:
    """Listens on ``port`` (a free one by default) and forwards to ``upstream``.

    ``cut()`` closes the listener and every open connection; ``restore()`` listens again on the
    same port. ``delay_s`` holds each chunk coming back from upstream that long (a slow server).
    """

    def __init__(self, upstream: tuple[str, int], *, port: int = 0, delay_s: float = 0.0) -> None:
        self.upstream = upstream
        self.port = port
        self.delay_s = delay_s
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)

    def cut(self) -> None:
        """Stop listening and reset every connection (both sides see the line drop)."""
        listener, self._listener = self._listener, None
        with self._lock:
            open_sockets = list(self._sockets)
            self._sockets.clear()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00"
                                b"\x00\x00\x00\x00")  # close with RST, as a dead server would
            sock.close()
        if listener is not None:
            listener.close()
        self._join()

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _join(self) -> None:
        threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(0.2)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
                self.connections += 1
            self._spawn(self._pump, client, server, 0.0)
            self._spawn(self._pump, server, client, self.delay_s)

    def _pump(self, source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        while True:
            try:
                data = source.recv(CHUNK)
            except TimeoutError:
                if source.fileno() < 0:
                    return
                continue
            except OSError:
                data = b""
            if not data:
                break
            if delay_s:
                time.sleep(delay_s)
            try:
                sink.sendall(data)
            except OSError:
                break
        with self._lock:
            self._sockets.discard(source)
            self._sockets.discard(sink)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
