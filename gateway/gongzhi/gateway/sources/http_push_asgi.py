"""The little of HTTP a push port needs, on raw ASGI: a carrier pushes thousands of small
requests a second to one path, and a framework's routing, middleware and request objects cost
more CPU than the push itself. Plain-text answers, the query and headers as dictionaries, the
body read up to a limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class Answer(NamedTuple):
    """An HTTP answer in plain text."""

    status: int
    text: str = ""


class ClientGone(Exception):
    """The client closed the connection before its body was read."""


async def answer(send: Send, status: int, text: str = "",
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [_TEXT, (b"content-length", b"%d" % len(body)), *headers]})
    await send({"type": "http.response.body", "body": body})


def query_of(scope: Scope) -> dict[str, str]:
    """The query string's parameters (the last of a repeated name wins)."""
    raw: bytes = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (ASGI gives them lower-case)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes (declared so, or counted as it comes:
    not read further). Raises ``ClientGone`` when the client leaves first."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
