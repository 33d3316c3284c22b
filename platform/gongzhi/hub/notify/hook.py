"""The signed webhook (a party's own system): a JSON POST with ``X-Gongzhi-Timestamp`` and
``X-Gongzhi-Signature: sha256=<hex>`` (HMAC-SHA256 of ``"<timestamp>.<body>"`` with the party's
secret), and ``X-Gongzhi-Delivery`` carrying the idempotency key so a receiver drops a repeat.
The ticket webhooks (:mod:`gongzhi.hub.webhooks`) and the notification channel both send
through ``post_signed``."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, masked


def sign(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post_signed(http: httpx.Client, url: str, secret: str, body: str, now_ms: int,
                key: str | None = None) -> Outcome:
    """POST ``body`` signed; 2xx is sent, 429 throttled (``Retry-After``), 408 and 5xx and
    transport errors retried, any other answer refused (the receiver will not take it)."""
    headers = {"Content-Type": "application/json", "X-Gongzhi-Timestamp": str(now_ms),
               "X-Gongzhi-Signature": sign(secret, now_ms, body)}
    if key is not None:
        headers["X-Gongzhi-Delivery"] = key
    try:
        response = http.post(url, content=body.encode("utf-8"), headers=headers)
    except httpx.HTTPError as exc:
        return Outcome.retry(masked(f"{type(exc).__name__}: {exc}", secret))
    status = response.status_code
    if status < 300:
        return Outcome.sent(f"HTTP {status}")
    if status == 429:
        after = response.headers.get("Retry-After", "")
        return Outcome.throttled(f"HTTP {status}", int(after) * 1000 if after.isdigit()
                                 else 60_000)
    if status >= 500 or status == 408:
        return Outcome.retry(f"HTTP {status}")
    return Outcome.refused(f"HTTP {status}")


class SignedWebhook:
    kind = "webhook"
    address_limits: tuple[Limit, ...] = ()
    digests = True
    max_bytes = 1_000_000

    def __init__(self, name: str, url: str, secret: Secret, *,
                 limits: tuple[Limit, ...] = (Limit(600, 60_000),)) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self.limits = limits

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        body = json.dumps({"event": "notification", "key": message.key, "sent_at": now_ms,
                           "title": message.title, "text": message.text, **message.body},
                          ensure_ascii=False, separators=(",", ":"))
        return post_signed(http, self._url, self._secret.reveal(), body, now_ms, message.key)
