"""The signed webhook (a party's own system) as a channel: a JSON POST with
``X-Gongzhi-Timestamp`` and ``X-Gongzhi-Signature: sha256=<hex>`` (HMAC-SHA256 of
``"<timestamp>.<body>"``, the scheme of :mod:`gongzhi.hub.webhooks`), and
``X-Gongzhi-Delivery`` carrying the idempotency key so a receiver drops a repeat."""

from __future__ import annotations

import json

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, masked
from gongzhi.hub.webhooks import sign


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
        secret = self._secret.reveal()
        try:
            response = http.post(self._url, content=body.encode("utf-8"), headers={
                "Content-Type": "application/json",
                "X-Gongzhi-Timestamp": str(now_ms),
                "X-Gongzhi-Signature": sign(secret, now_ms, body),
                "X-Gongzhi-Delivery": message.key,
            })
        except httpx.HTTPError as exc:
            return Outcome.retry(masked(f"{type(exc).__name__}: {exc}", secret))
        status = response.status_code
        if status < 300:
            return Outcome.sent(f"HTTP {status}")
        if status == 429:
            after = response.headers.get("Retry-After", "")
            return Outcome.throttled(f"HTTP {status}",
                                     int(after) * 1000 if after.isdigit() else 60_000)
        if status >= 500 or status == 408:
            return Outcome.retry(f"HTTP {status}")
        return Outcome.refused(f"HTTP {status}")
