"""Nothing moves under the operator's pointer while alarms pour in, in headless chromium against a
real platform: a drawer's close button, the queue's first row, the critical strip's cards and the
pop-up's buttons keep their place while a burst of critical alarms arrives and the gateway
reports alarms held in its outbox (the operations banner comes up), and a pointer aimed at them
before the burst still lands on them after it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.alarms import AlarmKind
from tests.pages.pages_support import (
    Platform,
    box,
    centre,
    dismiss_popups,
    hits,
    open_page,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

POLL_MS = 8_000  # the wall asks for the operations banner every 5 s
BURST = 12
FIRST_ROW = ".q-row:not([hidden])[style*='translateY(0px)']"


def shown(page: Page) -> list[int]:
    """The tickets of the critical strip's cards, left to right."""
    return [int(x) for x in page.locator("#critical .critical-card").evaluate_all(
        "cards => cards.map(card => card.dataset.ticketId)")]


def test_nothing_moves_under_the_pointer_while_critical_alarms_pour_in(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    platform.report_gateway()  # a gateway heard: no operations banner yet
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        expect(page.locator("#ops-banner")).to_be_hidden()
        earlier = [platform.raise_alarm(AlarmKind.SMOKE_ALARM, f"smk-1-1-{floor}")
                   for floor in (1, 2)]
        majors = [platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, f"el-2-{unit}-{floor}")
                  for unit in (1, 2) for floor in (1, 2, 3)]
        expect(page.locator("#queue-counts")).to_have_attribute("data-total", "8")
        # One acknowledged: a new open alarm is more urgent, yet takes no place of a card shown.
        platform.post(f"/api/tickets/{earlier[1]}/actions", "property_office", {"action": "ack"})
        dismiss_popups(page)
        cards = page.locator("#critical .critical-card")
        expect(cards).to_have_count(2)
        expect(cards.nth(1)).to_have_attribute("data-status", "acknowledged")
        assert shown(page) == earlier

        page.locator(f".q-row[data-ticket-id='{majors[0]}']").click()
        drawer = page.locator(f"#drawer[data-ticket-id='{majors[0]}']")
        expect(drawer.locator(".household")).to_contain_text("2-1-101")
        watched = {"close": "#drawer .drawer-close", "first row": FIRST_ROW,
                   "queue": ".queue-panel", "map": ".map-panel", "strip": "#critical"}
        watched |= {f"card of {ticket}": f"#critical .critical-card[data-ticket-id='{ticket}']"
                    for ticket in earlier}
        before = {name: box(page, selector) for name, selector in watched.items()}

        # The storm: the gateway holds alarms in its outbox, critical alarms arrive one by one.
        platform.report_gateway(alarms_waiting=4_000, oldest_waiting_age_ms=12_000)
        burst = [platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-3-1-1")]
        popup = page.locator("#popup")
        expect(popup.locator(f".popup-body[data-ticket-id='{burst[0]}']")).to_be_visible()
        watched["seen"] = "#popup .popup-actions .btn-quiet"
        expect(page.locator(watched["seen"])).to_have_text("已知晓")
        before["seen"] = box(page, watched["seen"])
        detectors = [f"smk-{building}-2-{floor}" for building in (3, 4) for floor in range(1, 7)]
        burst += [platform.raise_alarm(AlarmKind.SMOKE_ALARM, device)
                  for device in detectors[:BURST - 1]]
        expect(page.locator("#critical")).to_have_attribute("data-count", str(2 + BURST))
        expect(popup.locator(".popup-more")).to_contain_text(str(BURST - 1))
        expect(page.locator("#ops-banner .ops-problem[data-kind='alarms_waiting']")
               ).to_be_visible(timeout=POLL_MS)
        expect(page.locator("#queue-counts")).to_have_attribute("data-total", str(8 + BURST))

        after = {name: box(page, selector) for name, selector in watched.items()}
        assert {name: (before[name], after[name]) for name in watched
                if after[name] != before[name]} == {}, "moved as alarms arrived"
        # The cards shown before kept their places; the new alarms took the free ones.
        assert shown(page) == earlier + burst[:3]
        expect(page.locator("#critical .critical-more")).to_have_text(f"+{2 + BURST - 5}")

        # Escape is for the pop-up over the drawer: it dismisses one alarm, the drawer stays.
        page.keyboard.press("Escape")
        expect(popup.locator(".popup-more")).to_contain_text(str(BURST - 2))
        expect(drawer).to_be_visible()

        # The pointer, aimed before the burst, lands where it was aimed: the pop-up's "seen"
        # button for every other new alarm, then the drawer's close button.
        for _ in burst[1:]:
            page.mouse.click(*centre(before["seen"]))
        expect(popup).to_be_hidden()
        assert hits(page, centre(before["close"]), ".drawer-close")
        page.mouse.click(*centre(before["close"]))
        expect(page.locator("#drawer")).to_be_hidden()
        assert not page.locator("#drawer").get_attribute("data-ticket-id")

        # And the first row, aimed at before the burst, opens the ticket now first in the queue.
        on_top = page.locator(FIRST_ROW).get_attribute("data-ticket-id")
        assert on_top is not None and int(on_top) in burst + earlier
        page.mouse.click(*centre(before["first row"]))
        expect(page.locator(f"#drawer[data-ticket-id='{on_top}']")).to_be_visible()
    finally:
        page.context.close()
    assert page_errors == []
