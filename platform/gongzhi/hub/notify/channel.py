"""What every channel is: a name, its provider's limits, and ``send`` of one rendered message,
answering what happened in the provider's terms translated to four outcomes.

- ``SENT``: the provider took it.
- ``RETRY``: a transient failure (network, 5xx, "system busy"): try again with backoff.
- ``THROTTLED``: the provider says too many; ``pause_ms`` is how long it asks us to stay away
  (DingTalk's 130101 is ten minutes). The message is not at fault: it waits or falls back.
- ``REFUSED``: the provider will never take it as configured (bad key, refused signature,
  keywords missing, invalid number): retrying cannot help, the job fails with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx


class Result(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    THROTTLED = "throttled"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    detail: str = ""
    pause_ms: int = 0

    @classmethod
    def sent(cls, detail: str = "ok") -> Outcome:
        return cls(Result.SENT, detail)

    @classmethod
    def retry(cls, detail: str) -> Outcome:
        return cls(Result.RETRY, detail)

    @classmethod
    def throttled(cls, detail: str, pause_ms: int) -> Outcome:
        return cls(Result.THROTTLED, detail, pause_ms)

    @classmethod
    def refused(cls, detail: str) -> Outcome:
        return cls(Result.REFUSED, detail)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` messages in any ``window_ms``."""

    count: int
    window_ms: int


@dataclass(frozen=True, slots=True)
class Message:
    """One send, rendered: ``text`` (plain) and ``markdown`` forms, the people to mention
    (mobile numbers, or the channel's own ids), SMS template parameters, and the idempotency
    key receivers may use to drop a repeat."""

    key: str
    address: str
    title: str
    text: str
    markdown: str
    language: str = "zh"
    mentions: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    digest: bool = False
    body: Mapping[str, Any] = field(default_factory=dict)  # structured form (webhooks)


class Channel(Protocol):
    name: str
    kind: str
    #: the provider's limits for the whole channel (one robot, one account)
    limits: tuple[Limit, ...]
    #: the provider's limits per address (an SMS number), empty when it has none
    address_limits: tuple[Limit, ...]
    #: the largest message text the provider takes, in UTF-8 bytes
    max_bytes: int
    #: whether one send may carry a digest of several tickets
    digests: bool

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome: ...


def masked(text: str, *secrets: str) -> str:
    """``text`` with every secret replaced by ``****`` (errors may quote a URL)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return text


Answer = tuple[dict[str, Any] | None, Outcome | None]


def post_json(http: httpx.Client, url: str, body: Mapping[str, Any], *secrets: str,
              headers: Mapping[str, str] | None = None) -> Answer:
    """POST ``body``; the answer's JSON, or the outcome of a transport or HTTP failure (5xx
    and 429 are retried, other non-JSON answers are refused)."""
    try:
        response = http.post(url, json=dict(body), headers=dict(headers or {}))
    except httpx.HTTPError as exc:
        return None, Outcome.retry(masked(f"{type(exc).__name__}: {exc}", *secrets))
    if response.status_code >= 500 or response.status_code == 429:
        return None, Outcome.retry(f"HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if response.status_code >= 300:
            return None, Outcome.refused(f"HTTP {response.status_code}")
        return None, Outcome.retry(f"HTTP {response.status_code}: not a JSON answer")
    return answer, None


def robot_outcome(code: object, detail: str, *, throttled: Mapping[int, int],
                  refused: Mapping[int, str], busy: tuple[int, ...] = ()) -> Outcome:
    """A group robot's answer code: 0 sent; a throttling code pauses the robot for its time;
    a busy code is retried; a known refusal carries its meaning; any other code is refused."""
    if code == 0:
        return Outcome.sent(detail)
    if isinstance(code, int) and code in throttled:
        return Outcome.throttled(detail, throttled[code])
    if code in busy:
        return Outcome.retry(detail)
    if isinstance(code, int) and code in refused:
        return Outcome.refused(f"{detail} ({refused[code]})")
    return Outcome.refused(detail)
