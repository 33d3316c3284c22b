"""Request body size limits, enforced while the body streams in (pure ASGI).

A declared Content-Length above the limit is answered 413 before a byte of the body is read; a
chunked body is counted as it arrives and refused as soon as it passes the limit, so no request
makes the platform hold more than the limit in memory. The gateway's batches may be larger than
a person's action: its device-state batch bound (``DeviceStatesIn``, 10,000 devices) fits within
its limit.
"""

from __future__ import annotations

import contextlib

from starlette.types import Message, Receive, Scope, Send

from gongzhi.hub.asgi_middleware import HttpMiddleware, send_detail

KIB = 1024
MIB = 1024 * KIB
DEFAULT_LIMIT = 64 * KIB
PATH_LIMITS: dict[str, int] = {
    "/api/alarms": 1 * MIB,
    "/api/alarms/batch": 8 * MIB,  # up to 500 alarms (the gateway sends at most 4 MiB)
    "/api/device-states": 4 * MIB,
    "/api/reports": 26 * MIB,  # a resident's report: three photos of up to 6 MiB, as base64
}


class BodyTooLarge(Exception):
    """Raised into the application when the body passes its limit (the answer is 413)."""


def limit_for(path: str) -> int:
    return PATH_LIMITS.get(path.rstrip("/") or "/", DEFAULT_LIMIT)


class BodyLimit(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = limit_for(scope["path"])
        too_large = f"request body larger than {limit} bytes (the limit of {scope['path']})"
        declared = next((value for name, value in scope["headers"]
                         if name.lower() == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await send_detail(send, 400, "Content-Length must be a number of bytes", close=True)
                return
            if int(declared) > limit:
                await send_detail(send, 413, too_large, close=True)
                return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to the broken-off body is replaced by 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counted_receive, guarded_send)
        if exceeded and not started:
            await send_detail(send, 413, too_large, close=True)
