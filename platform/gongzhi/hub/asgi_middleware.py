"""What the platform's pure ASGI middleware share: they act on HTTP requests only (server push
streams pass through untouched), and answer in the application's error format."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Passes everything but HTTP requests straight on; subclasses implement ``http``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


async def send_detail(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    """A JSON ``{"detail": ...}`` answer, like the application's errors; ``close`` ends the
    connection after it (its request was not read in full)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
