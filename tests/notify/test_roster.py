"""Duty rosters: shifts, weekly rotation, holidays, the night shift past midnight, severities to
channels, and file errors naming file:line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.hub.notify.roster import (
    EMPTY,
    Rosters,
    channels_for,
    duty_at,
    load_rosters,
    on_duty,
)

ROSTERS = Path(__file__).with_name("rosters.yaml")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 1, year: int = 2026) -> int:
    """Milliseconds of a local time in Shanghai."""
    return int(datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.fixture(scope="module")
def rosters() -> Rosters:
    return load_rosters(ROSTERS)


def names(rosters: Rosters, party: str, at_ms: int) -> list[str]:
    return [p.id for p in on_duty(rosters, party, at_ms)]


def test_day_and_night_shift_hand_over_at_eight(rosters: Rosters) -> None:
    # Monday 5 January 2026 is in week 1 of the rotation: zhao by day, wang by night.
    assert names(rosters, "property_office", at(5, 8)) == ["zhao"]
    assert names(rosters, "property_office", at(5, 19, 59)) == ["zhao"]
    assert names(rosters, "property_office", at(5, 20)) == ["wang"]
    # 02:00 on Tuesday is still Monday's night shift.
    shift = duty_at(rosters, "property_office", at(6, 2))
    assert shift.shift == "night" and [p.id for p in shift.people] == ["wang"]
    assert shift.starts_at == at(5, 20) and shift.ends_at == at(6, 8)


def test_weekly_rotation_alternates(rosters: Rosters) -> None:
    assert names(rosters, "property_office", at(29, 10, month=12, year=2025)) == ["wang"]
    assert names(rosters, "property_office", at(5, 10)) == ["zhao"]
    assert names(rosters, "property_office", at(12, 10)) == ["wang"]
    # The night from Sunday 4 January into Monday belongs to week 0 (it began on Sunday).
    assert names(rosters, "property_office", at(5, 3)) == ["zhao"]
    assert names(rosters, "police_room", at(5, 3)) == ["officer-he"]
    assert names(rosters, "police_room", at(4, 23, 59)) == ["officer-li"]


def test_holiday_overrides_the_rotation(rosters: Rosters) -> None:
    holiday = duty_at(rosters, "property_office", at(1, 9))
    assert holiday.holiday and [p.id for p in holiday.people] == ["liu"]
    assert names(rosters, "property_office", at(2, 9)) == ["wang"]  # back to week 0


def test_a_party_without_roster_has_nobody(rosters: Rosters) -> None:
    assert on_duty(rosters, "residents_committee", at(5, 10)) == ()
    assert on_duty(EMPTY, "property_office", at(5, 10)) == ()
    assert duty_at(EMPTY, "property_office", at(5, 10)).to_dict()["people"] == []


def test_severity_picks_channels_in_the_persons_order(rosters: Rosters) -> None:
    zhao = rosters.person("property_office", "zhao")
    liu = rosters.person("property_office", "liu")
    officer = rosters.person("police_room", "officer-li")
    assert zhao is not None and liu is not None and officer is not None
    assert channels_for(rosters, "property_office", "critical", zhao) == (
        "dingtalk", "sms", "wecom")
    assert channels_for(rosters, "property_office", "major", liu) == ("wecom", "dingtalk")
    assert channels_for(rosters, "police_room", "critical", officer) == ("sms",)


def bad(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "rosters.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rosters(path)
    return caught.value


BASE = """version: 1
parties:
  property_office:
    people:
      - {id: wang, name: Wang}
    shifts: {day: "08:00-20:00"}
"""


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    error = bad(tmp_path, BASE.replace("people:", "peeple:"))
    assert "rosters.yaml:4: parties.property_office: unknown key 'peeple'" in str(error)
    error = bad(tmp_path, BASE + "    rotation_start: 2026-01-05\n"
                                 "    rotation:\n      - {day: [nobody]}\n")
    assert "unknown person 'nobody'" in str(error)
    error = bad(tmp_path, BASE.replace('"08:00-20:00"', '"08:00-20:00", night: "19:00-08:00"'))
    assert "overlaps" in str(error)
    error = bad(tmp_path, BASE.replace("property_office", "npc_liaison"))
    assert "supervises" in str(error)
    error = bad(tmp_path, BASE.replace("08:00-20:00", "8 to 20"))
    assert "08:00-20:00" in str(error)
    error = bad(tmp_path, BASE + "    rotation:\n      - {day: [wang]}\n")
    assert "rotation_start" in str(error)
    error = bad(tmp_path, BASE + "links: {secret: abc}\n")
    assert "{file: PATH} or {env: NAME}" in str(error) and error.source is not None


def test_link_secret_and_repeat_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "link.key").write_text("0123456789abcdef0123456789abcdef\n", encoding="utf-8")
    path = tmp_path / "rosters.yaml"
    path.write_text(BASE + "links: {secret: {file: link.key}, ttl: 30m}\n"
                           "renotify: {minor: {every: 1h, per_step: 1}}\n", encoding="utf-8")
    loaded = load_rosters(path)
    assert loaded.links.ttl_ms == 30 * 60_000
    assert loaded.links.secret is not None and "0123" not in repr(loaded.links)
    assert loaded.links.secret.reveal() == "0123456789abcdef0123456789abcdef"
    assert set(loaded.renotify) == {"minor"}
