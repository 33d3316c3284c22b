"""The one jittered backoff: the ceiling doubles from the first wait to the cap, each wait is
drawn between the floor and the ceiling, and the same seed gives the same waits."""

from __future__ import annotations

import random

import pytest

from gongzhi.core.backoff import Backoff


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(first_s=1.0, max_s=30.0)
    assert [backoff.ceiling(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(0) == 1.0  # no failure yet counts as the first
    assert backoff.ceiling(10_000) == 30.0  # no overflow however long the outage


def test_waits_are_spread_between_the_floor_and_the_ceiling() -> None:
    backoff = Backoff(first_s=1.0, max_s=8.0, floor_s=0.5)
    rng = random.Random(3)
    for failures in range(1, 7):
        waits = [backoff.delay(failures, rng) for _ in range(200)]
        ceiling = backoff.ceiling(failures)
        assert all(0.5 <= w <= ceiling for w in waits)
        # Full jitter: the waits cover the range, not a band near the ceiling.
        assert min(waits) < 0.5 + (ceiling - 0.5) * 0.1
        assert max(waits) > 0.5 + (ceiling - 0.5) * 0.9 or ceiling == 0.5
    assert ([backoff.delay(4, random.Random(9)) for _ in range(3)]
            == [backoff.delay(4, random.Random(9)) for _ in range(3)])


@pytest.mark.parametrize(("first", "cap", "floor"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.5),
                                                     (1, 2, -1)])
def test_a_backoff_that_makes_no_sense_is_refused(first: float, cap: float,
                                                  floor: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(first_s=first, max_s=cap, floor_s=floor)
