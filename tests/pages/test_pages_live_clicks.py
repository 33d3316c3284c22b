"""The ticket drawer under live updates, in headless chromium against a real platform: a storm
re-renders the drawer of a ticket receiving occurrences many times a second, and what the
operator is pressing or typing in must survive a re-render. A press on the close button, a
re-render, then the release: the drawer closes (a button, or an ancestor of it, taken out of the
page between press and release turns the click into one on what stayed), and a press on
"acknowledge" acknowledges. A note being typed keeps its focus and its text. The critical pop-up,
rebuilt whenever another critical alarm joins the wait, acts on the ticket a press was made on,
and not on another shown by the release."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from gongzhi.core.alarms import AlarmKind
from tests.e2e.harness import wait_until
from tests.pages.pages_support import Platform, box, centre, dismiss_popups, open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DEVICE = "el-1-1-1"


def mark_rendered(page: Page) -> None:
    """Mark what a render of the drawer builds anew (its kind heading)."""
    page.locator("#drawer .drawer-kind").evaluate("el => { el.dataset.before = '1'; }")


def rerendered(page: Page, platform: Platform) -> None:
    """Another occurrence of the ticket shown arrives; returns once the drawer re-rendered."""
    platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, DEVICE)
    expect(page.locator("#drawer .drawer-kind[data-before]")).to_have_count(0)
    expect(page.locator("#drawer .drawer-kind")).to_have_count(1)


def test_a_press_and_a_note_survive_the_drawer_re_rendering(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        ticket = platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, DEVICE)
        page.locator(f".q-row[data-ticket-id='{ticket}']").click()
        drawer = page.locator(f"#drawer[data-ticket-id='{ticket}']")
        expect(drawer.locator(".drawer-kind")).not_to_be_empty()

        note = drawer.locator("textarea.note")
        note.click()
        page.keyboard.type("门口")
        mark_rendered(page)
        rerendered(page, platform)
        assert note.evaluate("el => el === document.activeElement")
        page.keyboard.type("已查看")
        expect(note).to_have_value("门口已查看")

        x, y = centre(box(page, "#drawer .btn-ack"))
        page.mouse.move(x, y)
        page.mouse.down()
        mark_rendered(page)
        rerendered(page, platform)
        page.mouse.up()
        expect(drawer.locator(".drawer-status")).to_have_attribute("data-status", "acknowledged")

        x, y = centre(box(page, "#drawer .drawer-close"))
        page.mouse.move(x, y)
        page.mouse.down()
        mark_rendered(page)
        rerendered(page, platform)
        page.mouse.up()
        expect(page.locator("#drawer")).to_be_hidden()
    finally:
        page.context.close()
    assert page_errors == []


def press_while_the_popup_changes(page: Page, button: str, change: Callable[[], object]
                                  ) -> list[str]:
    """Press ``button`` of the pop-up, let ``change`` re-render it, then release; returns the
    paths of the actions the page posted on the release."""
    posted: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST" and "/actions" in request.url:
            posted.append(request.url.removeprefix(request.url.split("/api/")[0]))

    x, y = centre(box(page, f"#popup {button}"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.locator("#popup .popup-kind").evaluate("el => { el.dataset.before = '1'; }")
    change()
    expect(page.locator("#popup .popup-kind[data-before]")).to_have_count(0)
    page.on("request", note)
    page.mouse.up()  # (returns once the page has handled the release and its click)
    page.evaluate("0")  # a round trip: every request the click made has been reported
    page.remove_listener("request", note)
    return posted


def test_a_press_in_the_critical_popup_acts_on_the_ticket_it_was_made_on(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        dismiss_popups(page)
        first = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-1")
        popup = page.locator("#popup")
        expect(popup.locator(f".popup-body[data-ticket-id='{first}']")).to_be_visible()

        # Another detector sounds while "acknowledge" is held: the pop-up is rebuilt with one
        # more waiting, and the release acknowledges the ticket pressed on.
        second: list[int] = []
        posted = press_while_the_popup_changes(page, ".btn-ack", lambda: second.append(
            platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-2")))
        assert posted == [f"/api/tickets/{first}/actions"]
        wait_until(lambda: status(platform, first) == "acknowledged", 10, "the acknowledgement")
        expect(popup.locator(f".popup-body[data-ticket-id='{second[0]}']")).to_be_visible()

        # The ticket shown is acknowledged on another screen while "acknowledge" is held: the pop-up
        # moves on to the next one, which the release must not acknowledge.
        third = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-3")
        expect(popup.locator(".popup-more")).not_to_be_empty()
        posted = press_while_the_popup_changes(page, ".btn-ack", lambda: platform.post(
            f"/api/tickets/{second[0]}/actions", "property_office", {"action": "ack"}))
        expect(popup.locator(f".popup-body[data-ticket-id='{third}']")).to_be_visible()
        assert posted == []
        assert status(platform, third) == "open"
    finally:
        page.context.close()
    assert page_errors == []


def status(platform: Platform, ticket: int) -> str:
    found = platform.http.get(f"/api/tickets/{ticket}", headers=platform.auth("property_office"))
    assert found.status_code == 200, found.text
    return str(found.json()["status"])


def test_a_press_on_a_critical_card_survives_the_strip_updating(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        ticket = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
        card = page.locator(f"#critical .critical-card[data-ticket-id='{ticket}']")
        expect(card).to_be_visible()
        dismiss_popups(page)

        # The detector sounds again while the card's "acknowledge" is held: the strip updates
        # (the card counts ×2), and the release acknowledges.
        x, y = centre(box(page, f"#critical .critical-card[data-ticket-id='{ticket}'] .btn-ack"))
        page.mouse.move(x, y)
        page.mouse.down()
        platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
        expect(card.locator(".c-count")).to_have_text("×2")
        page.mouse.up()
        expect(card).to_have_attribute("data-status", "acknowledged")

        # Again while the card itself is held: the release opens its drawer.
        x, y = centre(box(page, f"#critical .critical-card[data-ticket-id='{ticket}'] .c-loc"))
        page.mouse.move(x, y)
        page.mouse.down()
        platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
        expect(card.locator(".c-count")).to_have_text("×3")
        page.mouse.up()
        expect(page.locator(f"#drawer[data-ticket-id='{ticket}']")).to_be_visible()
    finally:
        page.context.close()
    assert page_errors == []
