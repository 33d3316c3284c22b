"""Body size limits on the wire, against a real uvicorn: a declared size is refused before the
body is sent, a chunked body as soon as it passes the limit (the client is still sending)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_helpers import Server, free_port
from starlette.types import Message, Receive, Scope, Send

from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.hub.app import create_app
from gongzhi.hub.body_limit import DEFAULT_LIMIT, MIB, BodyLimit


@pytest.fixture
def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'platform.db'}"


@pytest.fixture
def server(settings: Settings, clock: ManualClock) -> Iterator[Server]:
    running = Server(create_app(settings, clock, background=False), free_port()).start()
    try:
        yield running
    finally:
        running.stop()


def _answer(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (deadline: ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    found = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            return found
        found += chunk
    raise AssertionError(f"the server neither answered in full nor closed: {found!r}")


def _head(path: str, token: str, extra: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def test_a_declared_size_over_the_limit_is_refused_before_the_body(
        server: Server, tokens: dict[str, str]):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # 100 MiB announced, none sent: the answer must not wait for it.
        sock.sendall(_head("/api/alarms", tokens["gateway"], f"Content-Length: {100 * MIB}\r\n"))
        answer = _answer(sock)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"connection: close" in rest.lower()
    assert b"request body larger than 1048576 bytes (the limit of /api/alarms)" in rest


def test_a_chunked_body_is_cut_off_once_past_the_limit(server: Server, tokens: dict[str, str]):
    chunk = b"x" * 8192
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head("/api/tickets/1/actions", tokens["property_office"],
                           "Transfer-Encoding: chunked\r\n"))
        for _ in range(DEFAULT_LIMIT // len(chunk) + 1):
            sock.sendall(framed)
        # No closing zero-length chunk: the body has no end, the answer comes anyway.
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert f"request body larger than {DEFAULT_LIMIT} bytes".encode() in answer


def test_a_chunked_body_within_the_limit_passes(server: Server, tokens: dict[str, str]):
    body = b'{"action": "comment", "note": "' + b"n" * 100 + b'"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head("/api/tickets/424242/actions", tokens["property_office"],
                           "Transfer-Encoding: chunked\r\nConnection: close\r\n"))
        for piece in (body[:20], body[20:]):
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        answer = _answer(sock)
    # Read in full and handled: the ticket does not exist.
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]


def test_a_content_length_that_is_no_number_is_refused() -> None:
    reached: list[bool] = []
    sent: list[Message] = []

    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        reached.append(True)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/alarms", "headers": [(b"content-length", b"12x")]}
    asyncio.run(BodyLimit(app)(scope, receive, send))
    assert not reached
    assert sent[0]["status"] == 400
