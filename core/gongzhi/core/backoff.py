"""Exponential backoff with full jitter (pure: the caller passes its own ``random.Random``).

After the n-th failure in a row a loop waits a random time drawn uniformly from
``[floor_s, ceiling(n)]``, where ``ceiling(n) = min(max_s, first_s * 2 ** (n - 1))``. The jitter
spreads the retries of many clients that failed together (a platform restarting, a broker or a
database back after an outage) instead of bringing them back in step; the floor keeps a loop
from spinning on an immediate retry. ``ceiling(n)`` alone is the deterministic schedule, for a
retry time that is stored and read back (webhook deliveries).

Every retry loop of the gateway and the platform uses this one rule: the alarm sender, the
worker supervisor's restarts, the InfluxDB flusher's probe, the store's reopening, the gateway's
store writes, the webhook deliveries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2 ** 64 times any first wait is past any cap: no need to compute further (nor to overflow).
_MAX_DOUBLINGS = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    first_s: float  # the ceiling after the first failure
    max_s: float  # the ceiling never exceeds this
    floor_s: float = 0.0  # the shortest wait

    def __post_init__(self) -> None:
        if not 0 <= self.floor_s <= self.first_s <= self.max_s or self.first_s <= 0:
            raise ValueError(f"backoff needs 0 <= floor_s <= first_s <= max_s and first_s > 0, "
                             f"not {self.floor_s}, {self.first_s}, {self.max_s}")

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failures in a row (at least one)."""
        doublings = min(max(failures, 1) - 1, _MAX_DOUBLINGS)
        return min(self.max_s, self.first_s * 2.0 ** doublings)

    def delay(self, failures: int, rng: random.Random) -> float:
        """A wait after ``failures`` failures in a row: uniform in ``[floor_s, ceiling]``."""
        return rng.uniform(self.floor_s, self.ceiling(failures))
