"""Security headers on every response (pure ASGI, so server push streams are untouched).

A header a route set itself is kept: ``/docs`` sends its own Content-Security-Policy with a nonce
for Swagger UI's inline script, so the pages' policy never needs 'unsafe-inline'. API answers
are not to be cached (they carry tickets and personal data). Over HTTPS, Strict-Transport-Security
tells browsers to stay on HTTPS. An unhandled error still gets the headers: it is answered here,
then re-raised for the server to log.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from gongzhi.hub.asgi_middleware import HttpMiddleware, send_detail

_COMMON_DIRECTIVES = (
    "default-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "media-src 'self' data: blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)

# The pages' policy: scripts only from the platform's own files, nothing inline, no eval.
PAGE_POLICY = "; ".join(("script-src 'self'", *_COMMON_DIRECTIVES))


def docs_policy(nonce: str) -> str:
    """The policy of ``/docs``: the pages' one, plus the one inline script bearing ``nonce``."""
    return "; ".join((f"script-src 'self' 'nonce-{nonce}'", *_COMMON_DIRECTIVES))


HSTS = "max-age=31536000"

DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", PAGE_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


def headers_for(scope: Scope) -> list[tuple[str, str]]:
    """The headers every response to this request carries unless the route set its own."""
    found = list(DEFAULT_HEADERS)
    if str(scope.get("path", "")).startswith("/api/"):
        found.append(("cache-control", "no-store"))
    if scope.get("scheme") == "https":
        found.append(("strict-transport-security", HSTS))
    return found


class SecurityHeaders(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = headers_for(scope)
        started = False

        async def add_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [(name.encode(), value.encode()) for name, value in extra
                            if name.encode() not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, add_headers)
        except Exception:
            if not started:
                await send_detail(add_headers, 500, "internal error")
            raise
