"""Token buckets that keep a sender under a provider's "N per window" in every window.

A classic bucket of capacity ``burst`` refilled at ``(count - burst) / window`` can never send
more than ``burst + (count - burst) = count`` messages in any window of that length, yet it
lets a quiet channel send ``burst`` messages at once. Under a storm it releases one token every
``window / (count - burst)`` (4 s for 20 a minute with a burst of 5). Messages without a
critical ticket leave the last token of a bucket to critical ones (the dispatcher asks for two),
so a critical ticket arriving in a storm of minor ones finds a token at once. Time comes from
the caller (an injected clock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gongzhi.hub.notify.channel import Limit

_EPSILON = 1e-9  # float refill arithmetic: a token due at a millisecond is there at it


def default_burst(limit: Limit) -> int:
    """A quarter of the limit (at least 1, at most count - 1 so the refill is positive)."""
    return max(1, min(limit.count - 1, limit.count // 4)) if limit.count > 1 else 1


@dataclass
class TokenBucket:
    limit: Limit
    burst: int
    tokens: float
    updated_ms: int

    @classmethod
    def full(cls, limit: Limit, now_ms: int, burst: int | None = None) -> TokenBucket:
        size = default_burst(limit) if burst is None else burst
        return cls(limit, size, float(size), now_ms)

    @property
    def rate_per_ms(self) -> float:
        refill = self.limit.count - self.burst
        return (refill if refill > 0 else self.limit.count) / self.limit.window_ms

    def _refill(self, now_ms: int) -> None:
        if now_ms > self.updated_ms:
            self.tokens = min(float(self.burst),
                              self.tokens + (now_ms - self.updated_ms) * self.rate_per_ms)
            self.updated_ms = now_ms


    def take(self, now_ms: int) -> None:
        self._refill(now_ms)
        self.tokens -= 1.0

    def ready_in_ms(self, now_ms: int, tokens: int = 1) -> int:
        """How long until ``tokens`` are there (0 when they are; never more than the burst)."""
        self._refill(now_ms)
        missing = min(tokens, self.burst) - self.tokens
        return 0 if missing <= _EPSILON else math.ceil(missing / self.rate_per_ms - _EPSILON)


class Buckets:
    """One bucket per limit of a key (a channel, or a channel and an address); a send needs a
    token from each."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], list[TokenBucket]] = {}

    def _of(self, key: tuple[str, ...], limits: Sequence[Limit],
            now_ms: int) -> list[TokenBucket]:
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = [TokenBucket.full(lim, now_ms) for lim in limits]
        return found

    def ready_in_ms(self, key: tuple[str, ...], limits: Sequence[Limit], now_ms: int,
                    tokens: int = 1) -> int:
        """How long until each bucket of ``key`` holds ``tokens`` (at most its burst)."""
        return max((b.ready_in_ms(now_ms, tokens) for b in self._of(key, limits, now_ms)),
                   default=0)

    def take(self, key: tuple[str, ...], limits: Sequence[Limit], now_ms: int) -> None:
        for bucket in self._of(key, limits, now_ms):
            bucket.take(now_ms)

    def charge(self, key: tuple[str, ...], limits: Sequence[Limit], now_ms: int,
               used: Sequence[int]) -> None:
        """Count ``used[i]`` requests already made in the window of ``limits[i]`` (those of a
        previous sender) against the buckets of ``key``."""
        for bucket, count in zip(self._of(key, limits, now_ms), used, strict=True):
            bucket.tokens -= count
