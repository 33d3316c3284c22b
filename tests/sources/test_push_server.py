"""The push port's HTTP server on a real loopback socket: answers in request order, the parts of
HTTP/1.1 a carrier's client uses (keep-alive, pipelining, ``Expect: 100-continue``, HEAD), and
the refusals (400, 413, 431, 500) that close or keep the connection as they should."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from gongzhi.gateway.sources.http_push_server import (
    MAX_HEAD,
    Answer,
    PushHttpServer,
    PushRequest,
    Reply,
)

MAX_BODY = 1024


class Echo:
    """Answers ``/slow`` only once a later ``/fast`` has been answered (so its answer is
    ready first), everything else at once with the method, path, query and body."""

    def __init__(self) -> None:
        self.server: PushHttpServer | None = None
        self.slow: asyncio.Future[Answer] | None = None
        self.too_large = 0

    def __call__(self, request: PushRequest) -> Reply:
        if request.path == "/boom":
            raise ValueError("a handler bug")
        if request.path == "/slow":
            assert self.server is not None
            self.slow = self.server.loop.create_future()
            return self.slow
        if request.path == "/fast" and self.slow is not None:
            slow, self.slow = self.slow, None
            self.server.loop.call_soon(slow.set_result, Answer(200, "slow"))  # type: ignore[union-attr]
        query = ",".join(f"{k}={v}" for k, v in sorted(request.query.items()))
        return Answer(200, f"{request.method} {request.path} {query} "
                           f"{request.body.decode()} {request.headers.get('x-tag', '')}")


@pytest.fixture
def served() -> Iterator[tuple[PushHttpServer, Echo]]:
    echo = Echo()

    def count() -> None:
        echo.too_large += 1

    server = PushHttpServer(echo, "127.0.0.1", 0, name="test-push", max_body=MAX_BODY,
                            on_too_large=count)
    echo.server = server
    server.start()
    try:
        yield server, echo
    finally:
        server.stop()
    assert not server.running


def connect(server: PushHttpServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def read_answers(sock: socket.socket, count: int, *,
                 head_only: bool = False) -> list[tuple[int, dict[str, str], str]]:
    """``count`` answers (status, headers, body) read off the socket (``head_only``: answers
    to HEAD, without a body)."""
    data = b""
    answers: list[tuple[int, dict[str, str], str]] = []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed after {answers}; left {data!r}")
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = 0 if head_only else int(headers.get("content-length", "0"))
        if status == 100:
            answers.append((status, headers, ""))
            continue
        while len(data) < length:
            data += sock.recv(65536)
        answers.append((status, headers, data[:length].decode()))
        data = data[length:]
    return answers


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def post(path: str, body: bytes = b"", *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_pipelined_requests_are_answered_in_order(served: tuple[PushHttpServer, Echo]) -> None:
    server, _ = served
    with connect(server) as sock:
        # The second's answer is ready before the first's: it must still come second.
        sock.sendall(post("/slow", b"a") + post("/fast?b=2&b=3&c=", b"b", "X-Tag: t"))
        answers = read_answers(sock, 2)
        assert [a[2] for a in answers] == ["slow", "POST /fast b=3,c= b t"]
        sock.sendall(b"GET /again?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive
        assert read_answers(sock, 1)[0][2] == "GET /again x=1  "


def test_expect_100_continue_and_head(served: tuple[PushHttpServer, Echo]) -> None:
    server, _ = served
    with connect(server) as sock:
        sock.sendall(post("/p", b"", "Expect: 100-continue").replace(
            b"Content-Length: 0", b"Content-Length: 4"))
        assert read_answers(sock, 1)[0][0] == 100
        sock.sendall(b"body")
        assert read_answers(sock, 1)[0][2] == "POST /p  body "
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_answers(sock, 1, head_only=True)[0]
        assert status == 200 and body == "" and int(headers["content-length"]) > 0
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")  # nothing of HEAD's body left
        assert read_answers(sock, 1)[0][2].startswith("GET /next")


def test_chunked_body_and_connection_close(served: tuple[PushHttpServer, Echo]) -> None:
    server, _ = served
    with connect(server) as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        status, headers, body = read_answers(sock, 1)[0]
        assert (status, body) == (200, "POST /c  abcde ")
        assert headers["connection"] == "close" and closed(sock)


def test_a_body_over_the_limit_is_413(served: tuple[PushHttpServer, Echo]) -> None:
    server, echo = served
    with connect(server) as sock:  # declared: refused before the body is sent
        sock.sendall(post("/p", b"", "Expect: 100-continue").replace(
            b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode()))
        status, _, body = read_answers(sock, 1)[0]
        assert status == 413 and str(MAX_BODY) in body and closed(sock)
    with connect(server) as sock:  # chunked: counted as it comes
        chunk = b"y" * 600
        sock.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + (b"258\r\n" + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        assert read_answers(sock, 1)[0][0] == 413 and closed(sock)
    assert echo.too_large == 2


def test_malformed_oversized_head_and_handler_failure(
        served: tuple[PushHttpServer, Echo]) -> None:
    server, _ = served
    with connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert read_answers(sock, 1)[0][0] == 400 and closed(sock)
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"z" * (MAX_HEAD + 10) + b"\r\n\r\n")
        assert read_answers(sock, 1)[0][0] == 431 and closed(sock)
    with connect(server) as sock:
        sock.sendall(post("/boom", b"x") + post("/after", b"y"))
        answers = read_answers(sock, 2)
        assert [a[0] for a in answers] == [500, 200]  # the connection and server live on


def test_a_port_in_use_fails_the_start(served: tuple[PushHttpServer, Echo]) -> None:
    server, echo = served
    other = PushHttpServer(echo, "127.0.0.1", server.port, name="second", max_body=MAX_BODY)
    with pytest.raises(Exception, match="cannot listen"):
        other.start()
    assert not other.running
