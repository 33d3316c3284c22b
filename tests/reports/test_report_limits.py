"""The abuse limits' windows on an injected clock: a phone's fourth report in an hour waits until
the first leaves the window; the daily bound holds across hours; keys are bounded."""

from __future__ import annotations

from gongzhi.core.clock import ManualClock
from gongzhi.hub.reports.limits import HOUR_MS, ReportLimiter


def test_the_hourly_limit_lifts_when_the_oldest_report_leaves_the_window() -> None:
    clock = ManualClock()
    limiter = ReportLimiter(clock)
    who = {"device": "d1", "address": "10.0.0.1", "building": "e/1"}
    for _ in range(3):
        assert limiter.check(**who) is None
        limiter.record(**who)
        clock.advance(60_000)
    limited = limiter.check(**who)
    assert limited is not None and limited.reason == "device_hour"
    assert limited.retry_after_s == (HOUR_MS - 3 * 60_000) // 1000
    clock.advance(limited.retry_after_s * 1000)
    assert limiter.check(**who) is None


def test_the_daily_limit_holds_across_hours() -> None:
    clock = ManualClock()
    limiter = ReportLimiter(clock)
    who = {"device": "d1", "address": "10.0.0.1", "building": "e/1"}
    for _ in range(10):
        assert limiter.check(**who) is None
        limiter.record(**who)
        clock.advance(HOUR_MS)
    limited = limiter.check(**who)
    assert limited is not None and limited.reason == "device_day"


def test_keys_are_bounded() -> None:
    limiter = ReportLimiter(ManualClock(), max_keys=10)
    for index in range(50):
        limiter.record(device=f"d{index}", address="a", building="b")
    assert len(limiter._times) <= 10
