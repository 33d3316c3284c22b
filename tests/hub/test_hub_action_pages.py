"""The pages offer only the actions the action matrix allows the signed-in party, and follow a
takeover live: the property office's wall and the police room's console in a real headless
chromium against a real platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from tests.pages.pages_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Platform,
    dismiss_popups,
    open_page,
    running_platform,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]
MINUTE = 60_000


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "platform", ManualClock()) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def page_for(browser: Browser, platform: Platform, path: str, party: str,
             errors: list[str]) -> Page:
    page = open_page(browser, f"{platform.url}{path}", errors)
    sign_in(page, platform.tokens[party])
    return page


def row(page: Page, ticket_id: int) -> Locator:
    return page.locator(f".q-row[data-ticket-id='{ticket_id}']")


def drawer_buttons(page: Page, ticket_id: int) -> list[str]:
    row(page, ticket_id).click()
    drawer = page.locator(f"#drawer[data-ticket-id='{ticket_id}']")
    expect(drawer).to_be_visible()
    buttons = drawer.locator(".drawer-actions button[data-action]")
    names = [buttons.nth(i).get_attribute("data-action") or "" for i in range(buttons.count())]
    drawer.locator(".drawer-close").click()
    return names


def test_each_party_is_offered_only_what_it_may_do(browser: Browser, platform: Platform):
    errors: list[str] = []
    tamper = platform.raise_alarm(AlarmKind.TAMPER, "smk-2-1-1")
    leak = platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, "el-2-1-2")
    fire = platform.raise_alarm(AlarmKind.FIRE, "smk-4-2-6", rule="fire_fusion")

    wall = page_for(browser, platform, "/", "property_office", errors)
    popup = wall.locator(f"#popup .popup-body[data-ticket-id='{fire}']")
    expect(popup.locator("[data-action=ack]")).to_be_visible()  # its own fire
    dismiss_popups(wall)
    expect(row(wall, leak).locator("[data-action=ack]")).to_be_visible()
    expect(row(wall, fire).locator("[data-action=ack]")).to_be_visible()
    expect(row(wall, tamper)).to_be_visible()
    expect(row(wall, tamper).locator("[data-action=ack]")).to_be_hidden()  # the police room's
    assert drawer_buttons(wall, tamper) == ["comment"]
    assert drawer_buttons(wall, leak) == ["ack", "dispatch", "arrive", "false_alarm", "comment"]

    police = page_for(browser, platform, "/police", "police_room", errors)
    dismiss_popups(police)
    expect(row(police, tamper).locator("[data-action=ack]")).to_be_visible()
    # Notified of the fire, the police room acknowledges its own part and moves nothing.
    assert drawer_buttons(police, fire) == ["ack", "comment"]

    # Nobody acknowledged the fire within a minute: the police room takes it over, and both
    # screens follow without a reload.
    assert isinstance(platform.clock, ManualClock)
    platform.clock.advance(MINUTE)
    assert platform.app is not None
    assert platform.app.state.escalator.run_once()
    expect(row(wall, fire).locator("[data-action=ack]")).to_be_hidden()
    expect(wall.locator(f"#critical .critical-card[data-ticket-id='{fire}'] [data-action=ack]")
           ).to_have_count(0)
    assert drawer_buttons(wall, fire) == ["comment"]
    dismiss_popups(police)
    expect(row(police, fire).locator("[data-action=ack]")).to_be_visible()
    assert drawer_buttons(police, fire) == ["ack", "dispatch", "arrive", "false_alarm",
                                            "comment"]
    for page in (wall, police):
        page.context.close()
    assert errors == []
