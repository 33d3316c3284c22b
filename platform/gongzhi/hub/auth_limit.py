"""Failed authentications per client address in a sliding window.

An address with ``limit`` failures within ``window_ms`` is answered 429 with ``Retry-After`` for
every further failure until the oldest of those failures leaves the window; failures while
limited count too, so a client that keeps guessing stays limited. A valid token is always
accepted, limited or not: the alarm wall must never be locked out because another client behind
the same address (a gateway with a stale token, an office NAT) keeps failing. The limit caps how
fast anyone can guess and tells a misconfigured client to back off.

The address is the connection's peer: forwarded headers count only from the proxies the operator
trusts (``GONGZHI_TRUSTED_PROXIES``, see ``gongzhi.hub.commands``), so a client cannot choose the
address it is counted under. An IPv6 client is counted by its /64, the block one site is given
(it may use any address in it).

Memory is bounded: at most ``max_addresses`` addresses are tracked; past that the one whose last
failure is oldest is forgotten first.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict, deque

from gongzhi.core.clock import Clock

DEFAULT_LIMIT = 10
DEFAULT_WINDOW_MS = 60_000
DEFAULT_MAX_ADDRESSES = 10_000


def client_key(host: str | None) -> str:
    """What failures are counted under: an IPv4 address, an IPv6 address's /64, or the peer's
    name as the server gave it (a Unix socket, a test client)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:10.0.0.7 is 10.0.0.7
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class AuthFailureLimiter:
    """Thread-safe (sync routes run in a thread pool)."""

    def __init__(self, clock: Clock, *, limit: int = DEFAULT_LIMIT,
                 window_ms: int = DEFAULT_WINDOW_MS,
                 max_addresses: int = DEFAULT_MAX_ADDRESSES) -> None:
        if limit < 1 or window_ms < 1 or max_addresses < 1:
            raise ValueError("limit, window and address bound must be positive")
        self._clock = clock
        self._limit = limit
        self._window_ms = window_ms
        self._max_addresses = max_addresses
        # address -> times of its latest failures (at most `limit`), least recent address first
        self._failures: OrderedDict[str, deque[int]] = OrderedDict()
        self._lock = threading.Lock()

    def fail(self, address: str) -> int | None:
        """Record a failure; the seconds to wait when the address is now limited, else None."""
        now = self._clock.now_ms()
        with self._lock:
            times = self._failures.pop(address, None)
            if times is None:
                times = deque(maxlen=self._limit)
            limited = self._is_limited(times, now)
            times.append(now)
            self._failures[address] = times
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
            if not limited:
                return None
            # The oldest failure kept is now the one after the failure that limited the
            # address: the limit lifts when it leaves the window.
            wait_ms = times[0] + self._window_ms - now
        return max(1, -(-wait_ms // 1000))

    def tracked(self) -> int:
        with self._lock:
            return len(self._failures)

    def _is_limited(self, times: deque[int], now: int) -> bool:
        """``limit`` failures, the oldest still within the window."""
        return len(times) == self._limit and times[0] + self._window_ms > now
