"""What the operator presses or types in survives the wall updating, in headless chromium against
a real platform. A storm updates the drawer of a ticket receiving occurrences many times a
second, the critical pop-up whenever another critical alarm joins the wait, the critical banner
at every occurrence: a button, or an ancestor of it, taken out of the page between a press and
its release turns the click into one on what stayed, and a text field taken out loses the focus.
So each case here is a press, an update, then the release: the drawer closes or acknowledges, a
note keeps its focus and text, the pop-up acknowledges the ticket pressed on (and not another
shown by the release), a card acknowledges or opens its ticket."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Request, expect

from gongzhi.core.alarms import AlarmKind
from tests.e2e.harness import wait_until
from tests.pages.pages_support import Platform, box, centre, dismiss_popups, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DEVICE = "el-1-1-1"


def held_through(page: Page, selector: str, update: Callable[[], object]) -> list[str]:
    """Press the element ``selector``, run ``update`` (it returns once the page has updated),
    then release; returns the paths of the actions the page posted on the release."""
    posted: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST" and "/actions" in request.url:
            posted.append(request.url.removeprefix(request.url.split("/api/")[0]))

    x, y = centre(box(page, selector))
    page.mouse.move(x, y)
    page.mouse.down()
    update()
    page.on("request", note)
    page.mouse.up()  # (returns once the page has handled the release and its click)
    page.evaluate("0")  # a round trip: every request the click made has been reported
    page.remove_listener("request", note)
    return posted


def rebuilt(page: Page, selector: str, change: Callable[[], object]) -> Callable[[], None]:
    """An update: mark the element ``selector`` (built anew at each render), ``change``, and
    wait until the mark is gone."""
    def update() -> None:
        page.locator(selector).evaluate("el => { el.dataset.before = '1'; }")
        change()
        expect(page.locator(f"{selector}[data-before]")).to_have_count(0)
        expect(page.locator(selector)).to_have_count(1)
    return update


def test_a_press_and_a_note_survive_the_drawer_updating(page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["property_office"])
    ticket = platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, DEVICE)
    page.locator(f".q-row[data-ticket-id='{ticket}']").click()
    drawer = page.locator(f"#drawer[data-ticket-id='{ticket}']")
    expect(drawer.locator(".drawer-kind")).not_to_be_empty()
    # Another occurrence of the ticket shown: the drawer renders again.
    occurrence = rebuilt(page, "#drawer .drawer-kind", lambda: platform.raise_alarm(
        AlarmKind.ELECTRICAL_LEAKAGE, DEVICE))

    note = drawer.locator("textarea.note")
    note.click()
    page.keyboard.type("门口")
    occurrence()
    assert note.evaluate("el => el === document.activeElement")
    page.keyboard.type("已查看")
    expect(note).to_have_value("门口已查看")

    assert held_through(page, "#drawer .btn-ack", occurrence) \
        == [f"/api/tickets/{ticket}/actions"]
    expect(drawer.locator(".drawer-status")).to_have_attribute("data-status", "acknowledged")
    held_through(page, "#drawer .drawer-close", occurrence)
    expect(page.locator("#drawer")).to_be_hidden()


def test_a_press_in_the_critical_popup_acts_on_the_ticket_it_was_made_on(
        page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["property_office"])
    dismiss_popups(page)
    first = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-1")
    popup = page.locator("#popup")
    expect(popup.locator(f".popup-body[data-ticket-id='{first}']")).to_be_visible()

    # Another detector sounds while "acknowledge" is held: the pop-up is rebuilt with one
    # more waiting, and the release acknowledges the ticket pressed on.
    second: list[int] = []
    posted = held_through(page, "#popup .btn-ack", rebuilt(
        page, "#popup .popup-kind", lambda: second.append(
            platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-2"))))
    assert posted == [f"/api/tickets/{first}/actions"]
    wait_until(lambda: status(platform, first) == "acknowledged", 10, "the acknowledgement")
    expect(popup.locator(f".popup-body[data-ticket-id='{second[0]}']")).to_be_visible()

    # The ticket shown is acknowledged on another screen while "acknowledge" is held: the
    # pop-up moves on to the next one, which the release must not acknowledge.
    third = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-2-1-3")
    expect(popup.locator(".popup-more")).not_to_be_empty()
    posted = held_through(page, "#popup .btn-ack", rebuilt(
        page, "#popup .popup-kind", lambda: platform.post(
            f"/api/tickets/{second[0]}/actions", "property_office", {"action": "ack"})))
    expect(popup.locator(f".popup-body[data-ticket-id='{third}']")).to_be_visible()
    assert posted == []
    assert status(platform, third) == "open"


def test_a_press_on_a_critical_card_survives_the_banner_updating(
        page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["property_office"])
    ticket = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
    selector = f"#critical .critical-card[data-ticket-id='{ticket}']"
    card = page.locator(selector)
    expect(card).to_be_visible()
    dismiss_popups(page)

    def sounds_again(times: int) -> Callable[[], None]:
        def update() -> None:
            platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
            expect(card.locator(".c-count")).to_have_text(f"×{times}")
        return update

    assert held_through(page, f"{selector} .btn-ack", sounds_again(2)) \
        == [f"/api/tickets/{ticket}/actions"]
    expect(card).to_have_attribute("data-status", "acknowledged")
    held_through(page, f"{selector} .c-loc", sounds_again(3))
    expect(page.locator(f"#drawer[data-ticket-id='{ticket}']")).to_be_visible()


def status(platform: Platform, ticket: int) -> str:
    found = platform.http.get(f"/api/tickets/{ticket}", headers=platform.auth("property_office"))
    assert found.status_code == 200, found.text
    return str(found.json()["status"])
