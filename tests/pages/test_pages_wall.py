"""The alarm wall in a real headless chromium against a real platform: sign-in, live tickets
without reload, the fire on the map, acknowledging through the API, surviving a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.alarms import AlarmKind
from tests.pages.pages_support import ESTATE, Platform, open_page, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def wall(browser: Browser, platform: Platform, page_errors: list[str]) -> Iterator[Page]:
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        yield page
    finally:
        page.context.close()
    assert page_errors == []


def row(page: Page, ticket_id: int) -> object:
    return page.locator(f".q-row[data-ticket-id='{ticket_id}']")


def test_a_fire_reaches_the_wall_within_a_second_with_its_place_lit(
        wall: Page, platform: Platform) -> None:
    expect(wall.locator("#signin")).to_be_visible()
    screenshot(wall, "sign-in")
    sign_in(wall, platform.tokens["property_office"])
    wall.locator("#sound-enable").click()
    expect(wall.locator("body")).to_have_attribute("data-sound", "on")
    expect(wall.locator(".building")).to_have_count(4)

    ticket_id = platform.raise_alarm(AlarmKind.FIRE, "smk-2-1-4", rule="two_detectors",
                                     detectors=["smk-2-1-4", "smk-2-1-5"])
    # Server push, no reload: the pop-up, the queue row and the critical card within a second.
    popup = wall.locator(f"#popup .popup-body[data-ticket-id='{ticket_id}']")
    expect(popup).to_be_visible(timeout=1000)
    expect(row(wall, ticket_id)).to_have_count(1, timeout=1000)
    place = wall.locator(f".place[data-place='{ESTATE}|2|1|4']")
    expect(place).to_have_attribute("data-severity", "critical", timeout=1000)
    expect(place).to_have_class("place blink flash")
    expect(popup.locator(".popup-kind")).to_have_text("火警")
    expect(popup.locator(".popup-loc")).to_have_text("2栋 1单元 4层 401")
    expect(wall.locator("body")).to_have_attribute("data-sound-plays", "1")
    screenshot(wall, "wall-fire-popup")

    popup.get_by_role("button", name="已知晓").click()
    expect(wall.locator("#popup")).to_be_hidden()
    card = wall.locator(f".critical-card[data-ticket-id='{ticket_id}']")
    expect(card).to_contain_text("火警")
    expect(card.locator(".c-sla")).to_contain_text("剩余")
    # Severity is told by an icon and a word, not by colour alone.
    expect(row(wall, ticket_id).locator(".sev-badge .sev-icon")).to_have_count(1)
    expect(row(wall, ticket_id).locator(".sev-text")).to_have_text("危急")
    screenshot(wall, "wall")
