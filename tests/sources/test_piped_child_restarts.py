"""A source's helper that ended unasked is started again after the backoff's waits
(``Restarts``): longer while its starts keep failing, back to the first once one succeeds, and
none at all once the source is stopping. A helper that never spawns a process and a wait that
returns at once keep the schedule exact; the source's own random draws set each wait."""

from __future__ import annotations

import random
import threading

import pytest

from gongzhi.core.backoff import Backoff
from gongzhi.gateway.sources.piped_child import RESTART, PipedChild, Restarts


class _Failed(RuntimeError):
    pass


class _Child(PipedChild):
    """Starts as told, in turn: True succeeds, False fails."""

    def __init__(self, outcomes: list[bool]) -> None:
        super().__init__("gongzhi.nothing", "the helper of s1")
        self._outcomes = outcomes
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        if not self._outcomes.pop(0):
            raise _Failed("it ended")


class _Longest(random.Random):
    """Draws the longest wait of each range, and notes the ranges."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


class _NoWait(threading.Event):
    """A wait that notes its timeout and returns at once."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_each_failed_start_lengthens_the_wait_and_a_start_shortens_it_again() -> None:
    child = _Child([False, False, True, False])
    stopping, rng = _NoWait(), _Longest()
    restarts = Restarts(child, stopping, rng)
    for failures in (1, 2):
        with pytest.raises(_Failed):
            restarts.attempt()
        assert restarts.failures == failures
    assert restarts.attempt()
    assert restarts.failures == 0
    with pytest.raises(_Failed):
        restarts.attempt()
    assert child.starts == 4
    assert stopping.waits == [1.0, 2.0, 4.0, 1.0]
    assert rng.ranges == [(RESTART.floor_s, RESTART.ceiling(n)) for n in (1, 2, 3, 1)]


def test_the_waits_are_drawn_with_the_sources_own_random() -> None:
    stopping = _NoWait()
    restarts = Restarts(_Child([False, True]), stopping, random.Random(7))
    with pytest.raises(_Failed):
        restarts.attempt()
    assert restarts.attempt()
    expected = random.Random(7)
    assert stopping.waits == [RESTART.delay(1, expected), RESTART.delay(2, expected)]


def test_stopping_during_the_wait_ends_it_at_once_and_starts_nothing() -> None:
    class Watched(threading.Event):
        def __init__(self) -> None:
            super().__init__()
            self.waiting = threading.Event()

        def wait(self, timeout: float | None = None) -> bool:
            self.waiting.set()
            return super().wait(timeout)

    child = _Child([True])
    stopping = Watched()
    restarts = Restarts(child, stopping, _Longest(), Backoff(first_s=60.0, max_s=60.0))
    started: list[bool] = []
    attempt = threading.Thread(target=lambda: started.append(restarts.attempt()))
    attempt.start()
    assert stopping.waiting.wait(5)
    stopping.set()  # a minute's wait under way
    attempt.join(timeout=5)
    assert not attempt.is_alive() and started == [False]
    assert child.starts == 0 and restarts.failures == 0
