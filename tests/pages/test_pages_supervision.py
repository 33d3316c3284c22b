"""The supervision view in headless chromium: overdue and escalated tickets only, live; SLA
figures; no personal data. Time is a ManualClock the test moves (deadlines pass on command)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from tests.pages.pages_support import Platform, open_page, running_platform, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MINUTE = 60_000
DAY = 24 * 60 * MINUTE


HISTORY_DAYS = 6


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    start = time.time_ns() // 1_000_000 - HISTORY_DAYS * DAY - 40 * MINUTE
    with running_platform(tmp_path_factory.mktemp("supervision"), ManualClock(start)) as running:
        yield running


def act(platform: Platform, ticket_id: int, action: str, party: str = "property_office") -> None:
    platform.post(f"/api/tickets/{ticket_id}/actions", party, {"action": action})


def handle(platform: Platform, ticket_id: int, ack_after: int, resolve_after: int,
           party: str = "property_office") -> None:
    """Acknowledge ``ack_after`` ms after opening, resolve ``resolve_after`` ms later."""
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    clock.advance(ack_after)
    escalate(platform)  # as the background escalator would have, every second
    act(platform, ticket_id, "ack", party)
    clock.advance(resolve_after)
    act(platform, ticket_id, "resolve", party)


def past_week(platform: Platform) -> int:
    """Six days of handled tickets, acknowledged a little slower each day; one tamper a day
    is acknowledged after its 15 min deadline. Returns how many tickets that made."""
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    made = 0
    for day in range(HISTORY_DAYS):
        day_start = clock.now_ms()
        for n, (kind, device) in enumerate(((AlarmKind.ELECTRICAL_LEAKAGE, f"el-4-1-{day + 1}"),
                                            (AlarmKind.LOW_BATTERY, f"smk-4-2-{day + 1}"),
                                            (AlarmKind.CABLE_OVERHEAT, f"el-4-2-{day + 1}"))):
            ticket = platform.raise_alarm(kind, device)
            handle(platform, ticket, (2 + day + n) * MINUTE, (30 + 10 * day) * MINUTE)
            made += 1
        tamper = platform.raise_alarm(AlarmKind.TAMPER, f"smk-4-1-{day + 1}")
        handle(platform, tamper, (5 + 3 * day) * MINUTE, 20 * MINUTE, party="police_room")
        made += 1
        escalate(platform)
        clock.set(day_start + DAY)
    return made


def escalate(platform: Platform) -> None:
    assert platform.app is not None
    platform.app.state.escalator.run_once()


def test_supervision_shows_overdue_and_escalated_tickets_without_personal_data(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    history = past_week(platform)
    fire = platform.raise_alarm(AlarmKind.FIRE, "smk-2-2-5", rule="fire_fusion")
    tamper = platform.raise_alarm(AlarmKind.TAMPER, "smk-1-1-1")
    water = platform.raise_alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-1")
    leak = platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, "el-3-1-2")
    clock.advance(2 * MINUTE)
    act(platform, leak, "ack")
    act(platform, leak, "arrive")
    clock.advance(10 * MINUTE)
    act(platform, leak, "resolve")
    clock.advance(8 * MINUTE)  # 20 min in: the fire and the tamper missed their deadlines
    escalate(platform)

    page = open_page(browser, f"{platform.url}/supervision", page_errors)
    try:
        sign_in(page, platform.tokens["npc_liaison"])
        rows = page.locator(".sup-row")
        expect(rows).to_have_count(2)
        assert {int(x) for x in rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")} == {
            fire, tamper}
        fire_row = page.locator(f".sup-row[data-ticket-id='{fire}']")
        expect(fire_row.locator(".sup-kind")).to_have_text("火警")
        expect(fire_row.locator(".sup-loc")).to_have_text("2栋 2单元")  # no floor, no room
        # Missed: acknowledgement (1 min) and on site (3 min).
        expect(fire_row.locator(".flag-overdue")).to_have_text(["已超时·确认", "已超时·到场"])
        expect(fire_row.locator(".flag-escalated")).to_have_count(1)
        expect(page.locator("[data-kpi=overdue] .kpi-value")).to_have_text("2")
        # Today the fire and the tamper missed deadlines; every day before, the tamper did
        # once it was acknowledged after 15 min (days 4 and 5: 17 and 20 min).
        opened = history + 4
        breached = 2 + sum(1 for day in range(HISTORY_DAYS) if 5 + 3 * day > 15)
        # Compliance is met / decided: the water pressure ticket is still within its deadline,
        # so it counts neither way; every other ticket is either breached or closed in time.
        decided = opened - 1
        expect(page.locator("[data-kpi=opened] .kpi-value")).to_have_text(str(opened))
        expect(page.locator("[data-kpi=compliance] .kpi-value")).to_have_text(
            f"{100 * (decided - breached) / decided:.1f}%")
        # One line per party that handled tickets: the property office and the police room.
        expect(page.locator("#chart-ack svg path.series")).to_have_count(2)
        expect(page.locator("#sup-table tbody tr")).to_have_count(2)
        page.locator("#group-by [data-group=kind]").click()
        expect(page.locator("#sup-table tbody tr")).to_have_count(6)  # by kind
        # Nothing personal on the page: no household, no phone, no room.
        text = page.locator("body").inner_text()
        for secret in ("2-2-502", "13812340252", "502", "elderly"):
            assert secret not in text

        # A day later the water pressure is past its 24 h deadline: it joins the list live.
        clock.advance(24 * 60 * MINUTE)
        escalate(platform)
        expect(page.locator(f".sup-row[data-ticket-id='{water}']")).to_have_count(1)
        expect(page.locator("[data-kpi=overdue] .kpi-value")).to_have_text("3", timeout=10_000)
        page.locator("#group-by [data-group=party]").click()
        screenshot(page, "supervision")
    finally:
        page.context.close()
    assert page_errors == []
