"""Duplicate (device, seq) detection with bounded memory, counter restarts, out-of-order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gongzhi.gateway.dedup import WINDOW, ArrivalTracker

T0 = 1_767_225_600_000


def test_repeats_are_duplicates_per_device() -> None:
    tracker = ArrivalTracker()
    assert not tracker.is_duplicate("a", 1, T0)
    assert not tracker.is_duplicate("b", 1, T0)  # another device's seq 1
    assert tracker.is_duplicate("a", 1, T0)
    assert not tracker.is_duplicate("a", 3, T0 + 2)
    assert not tracker.is_duplicate("a", 2, T0 + 1)  # late, not seen: kept
    assert tracker.is_duplicate("a", 2, T0 + 1)
    assert not tracker.is_duplicate("a", None, T0 + 5)
    assert not tracker.is_duplicate("a", None, T0 + 5)  # no seq: never a duplicate


def test_counter_restart_with_a_newer_device_time_is_not_a_duplicate() -> None:
    tracker = ArrivalTracker()
    for seq in range(10):
        assert not tracker.is_duplicate("s", seq, T0 + seq)
    # Battery changed: the counter begins again, the device clock goes on.
    assert not tracker.is_duplicate("s", 0, T0 + 60_000)
    assert not tracker.is_duplicate("s", 1, T0 + 61_000)
    assert tracker.is_duplicate("s", 1, T0 + 61_000)
    # Without a device clock a repeated seq is a duplicate (nothing tells a restart apart).
    assert tracker.is_duplicate("s", 0, T0 + 99_000, device_clock=False)


def test_far_behind_seq_is_taken_as_restart() -> None:
    tracker = ArrivalTracker()
    tracker.is_duplicate("a", 1000, T0)
    assert not tracker.is_duplicate("a", 1000 - WINDOW, T0 - 1)
    assert tracker.is_duplicate("a", 1000 - WINDOW, T0 - 1)


def test_out_of_order_is_reported() -> None:
    tracker = ArrivalTracker()
    tracker.is_duplicate("a", 1, T0 + 10)
    assert tracker.is_newest("a", T0 + 10)
    tracker.is_duplicate("a", 2, T0 + 5)
    assert not tracker.is_newest("a", T0 + 5)
    assert tracker.is_newest("never-seen", T0)


@given(st.lists(st.integers(min_value=0, max_value=WINDOW - 1), max_size=300))
def test_matches_a_set_within_the_window(seqs: list[int]) -> None:
    """Within one window, without restarts (same device time), it behaves like a set."""
    tracker = ArrivalTracker()
    seen: set[int] = set()
    for seq in seqs:
        assert tracker.is_duplicate("d", seq, T0) == (seq in seen)
        seen.add(seq)


def test_memory_is_bounded_per_device() -> None:
    import tracemalloc

    tracker = ArrivalTracker()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for seq in range(20_000):  # a long stream of one device
        tracker.is_duplicate("d", seq, T0 + seq)
    one_device = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert one_device < 1000
