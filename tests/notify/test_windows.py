"""Maintenance windows, the pure part: what a window covers, its weekly slot, its states, and
that it ends by itself."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from gongzhi.hub.notify.windows import (
    MemoryWindows,
    NewWindow,
    Target,
    Weekly,
    WindowState,
    silencing,
)
from gongzhi.hub.routing import AlarmFacts

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


def facts(kind: str, device: str, *, riser: str | None = None,
          building: str = "B1") -> AlarmFacts:
    return AlarmFacts(kind=kind, device_id=device, estate_id="yijing", building=building,
                      elderly_alone=False, household=None, riser=riser, ts_ms=0)


PUMP = facts("water_pressure_drop", "wp-r3", riser="R3")
FIRE = facts("fire", "smk-301")


def pump_test(repo: MemoryWindows) -> int:
    window = repo.add_window(NewWindow(
        Target(estate="yijing", riser="R3"), "property_office", "weekly pump test",
        starts_at=at(1, 0), ends_at=at(31, 0),
        weekly=Weekly(frozenset({0}), 10 * 60, 30)), at(1, 0))
    return window.id


def test_a_weekly_window_silences_its_riser_in_its_slot_only() -> None:
    repo = MemoryWindows()
    window_id = pump_test(repo)
    windows = repo.windows()
    # Monday 5 January 10:00-10:30.
    found = silencing(windows, PUMP, at(5, 10, 5), SHANGHAI)
    assert found is not None and found.id == window_id
    assert silencing(windows, FIRE, at(5, 10, 5), SHANGHAI) is None
    assert silencing(windows, PUMP, at(5, 10, 30), SHANGHAI) is None
    assert silencing(windows, PUMP, at(5, 9, 59), SHANGHAI) is None
    assert silencing(windows, PUMP, at(6, 10, 5), SHANGHAI) is None  # Tuesday
    assert silencing(windows, PUMP, at(12, 10, 29), SHANGHAI) is not None


def test_states_next_opening_and_ending_by_itself() -> None:
    repo = MemoryWindows()
    pump_test(repo)
    window = repo.windows()[0]
    assert window.state(at(5, 9), SHANGHAI) is WindowState.WAITING
    assert window.next_open_at(at(5, 9), SHANGHAI) == at(5, 10)
    assert window.next_open_at(at(5, 10, 10), SHANGHAI) == at(12, 10)
    assert window.state(at(5, 10, 1), SHANGHAI) is WindowState.OPEN
    assert window.state(at(31, 0), SHANGHAI) is WindowState.ENDED
    assert window.next_open_at(at(27, 11), SHANGHAI) is None  # no Monday slot left before 31st
    assert repo.windows(closing_after=at(31, 0)) == []


def test_a_one_off_window_ended_early() -> None:
    repo = MemoryWindows()
    window = repo.add_window(NewWindow(Target(device="smk-301"), "property_office",
                                       "detector replaced", at(5, 9), at(5, 12)), at(5, 8))
    assert window.state(at(5, 8), SHANGHAI) is WindowState.SCHEDULED
    assert silencing([window], FIRE, at(5, 11), SHANGHAI) is window
    ended = repo.end_window(window.id, "property_office", at(5, 10))
    assert ended is not None and ended.ended_by == "property_office"
    assert silencing(repo.windows(), FIRE, at(5, 11), SHANGHAI) is None
    # Still marks what it silenced before it ended.
    assert silencing(repo.windows(), FIRE, at(5, 9, 30), SHANGHAI) == ended
    assert repo.end_window(window.id, "police_room", at(5, 11)) == ended  # no change
    assert ended.to_dict(at(5, 11), SHANGHAI)["state"] == "ended"


def test_a_slot_past_midnight_belongs_to_its_day() -> None:
    slot = Weekly(frozenset({6}), 23 * 60, 120)  # Sunday 23:00 to Monday 01:00
    assert slot.contains(datetime(2026, 1, 5, 0, 30, tzinfo=SHANGHAI))  # Monday 00:30
    assert not slot.contains(datetime(2026, 1, 6, 0, 30, tzinfo=SHANGHAI))
    assert slot.to_dict() == {"weekdays": ["sun"], "from": "23:00", "to": "01:00"}
    kinds = Target(kinds=frozenset({"tamper"}))
    assert kinds.covers(facts("tamper", "x")) and not kinds.covers(FIRE)
