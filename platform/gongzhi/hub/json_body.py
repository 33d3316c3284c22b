"""JSON request bodies the platform can keep and answer with, checked before the application
parses them (pure ASGI, inside the body size limit).

Python's JSON parser takes what the platform cannot keep or send back: strings with lone
surrogates (``"\\udc80"`` is a valid JSON escape but no text: neither the store nor an answer
can encode it) or NUL characters (PostgreSQL's text cannot hold them), nesting as deep as the
parser's recursion allows (pydantic serializes at most 255 levels), ``NaN`` and ``Infinity``
(not JSON) and numbers beyond a float (``1e400`` becomes infinity, which no JSON answer can
carry). A body with any of them is answered 422 in the form of FastAPI's validation errors,
naming the first place found and why. A body that is not JSON at all is left to the
application (400).
"""

from __future__ import annotations

import json
import math
from typing import Any

from anyio import to_thread
from starlette.types import Message, Receive, Scope, Send

from gongzhi.hub.asgi_middleware import HttpMiddleware

# Levels of objects and arrays in a body (the body itself is level 1). Alarm evidence carries a
# device event's detail three levels down; the gateway keeps details far shallower than this.
MAX_DEPTH = 64
# Larger bodies (the gateway's batches) are checked off the event loop.
CHECK_INLINE_BYTES = 64 * 1024

Location = tuple[str | int, ...]


class _NotJsonConstant(Exception):
    """NaN, Infinity or -Infinity in a body (Python's parser would take them)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


def _string_problem(value: str) -> tuple[str, str] | None:
    """(what is wrong, type) of a string the platform cannot keep; None for text it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which the database cannot store", "string_nul"
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return ("contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not "
                "text", "string_unicode")
    return None


def printable(value: str | int) -> str | int:
    """A location part that can be encoded in an answer (lone surrogates escaped)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def problem(loc: Location, msg: str, kind: str) -> dict[str, Any]:
    """One validation error in FastAPI's form."""
    return {"loc": [printable(part) for part in loc], "msg": msg, "type": kind}


def body_problem(body: bytes) -> dict[str, Any] | None:
    """The first thing in a JSON body the platform cannot keep, or None (also when the body is
    not JSON: the application answers that)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except _NotJsonConstant as exc:
        return problem(("body",), f"{exc.name} is not a JSON number", "json_invalid")
    except RecursionError:
        return problem(("body",), f"nested deeper than {MAX_DEPTH} levels", "json_too_deep")
    except ValueError:  # not JSON, or not UTF-8: the application's 400
        return None
    return value_problem(value)


def value_problem(value: Any) -> dict[str, Any] | None:
    """Walk the parsed body without recursion (it may be nested as deep as the parser went)."""
    stack: list[tuple[Any, Location, int]] = [(value, ("body",), 0)]
    while stack:
        item, loc, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > MAX_DEPTH:
                return problem(loc, f"nested deeper than {MAX_DEPTH} levels", "json_too_deep")
            if isinstance(item, list):
                stack.extend((v, (*loc, i), depth) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                wrong = _string_problem(key)
                if wrong is not None:
                    return problem((*loc, key), f"the key {wrong[0]}", wrong[1])
                stack.append((child, (*loc, key), depth))
        elif isinstance(item, str):
            wrong = _string_problem(item)
            if wrong is not None:
                return problem(loc, f"the string {wrong[0]}", wrong[1])
        elif isinstance(item, float) and not math.isfinite(item):
            return problem(loc, "the number is beyond the range of a double", "finite_number")
    return None


# The methods whose bodies the application reads; another method's body is never parsed.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _has_body(scope: Scope) -> bool:
    if scope["method"] not in BODY_METHODS:
        return False
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0 ")):
            return True
    return False


async def send_problems(send: Send, problems: list[dict[str, Any]]) -> None:
    body = json.dumps({"detail": problems}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class JsonBodyGuard(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _has_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > CHECK_INLINE_BYTES:
            found = await to_thread.run_sync(body_problem, body)
        else:
            found = body_problem(body)
        if found is not None:
            await send_problems(send, [found])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
