"""The ticket queue holds still under the operator's pointer, in headless chromium against a real
platform: while the pointer rests on a row (at the top of the list or scrolled down), a burst of
more urgent tickets posted through the platform's API moves no row, a click where the pointer was
aimed opens the ticket aimed at, and the new tickets wait behind the panel's "N new · show" button
until the pointer leaves the queue or the button is pressed (or the pointer has been still for
20 s). Scrolled down with the pointer elsewhere, the rows in view keep their places as tickets
arrive above them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.alarms import AlarmKind
from tests.pages.pages_support import (
    ROW_HEIGHT,
    Platform,
    box,
    centre,
    hits,
    open_page,
    running_platform,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BURST = 5
FIRST_ROW = ".q-row:not([hidden])[style*='translateY(0px)']"
ORDER = """() => Array.from(document.querySelectorAll('#queue .q-row:not([hidden])'))
  .map(row => [Number(/translateY\\(([-\\d.]+)px\\)/.exec(row.style.transform)[1]),
               Number(row.dataset.ticketId)])
  .sort((a, b) => a[0] - b[0]).map(pair => pair[1])"""
UNDER = "([x, y]) => document.elementFromPoint(x, y)?.closest('.q-row')?.dataset.ticketId ?? null"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform of the test's own: each test knows every ticket of its queue."""
    with running_platform(tmp_path) as running:
        yield running


def row(ticket: int) -> str:
    return f"#queue .q-row:not([hidden])[data-ticket-id='{ticket}']"


def order(page: Page) -> list[int]:
    """The tickets of the queue's rows in the page (those in view and a few more), top down."""
    return [int(x) for x in page.evaluate(ORDER)]


def under(page: Page, point: tuple[float, float]) -> int | None:
    """The ticket of the queue row at ``point``, if any."""
    found = page.evaluate(UNDER, [point[0], point[1]])
    return None if found is None else int(found)


def quiet_tickets(platform: Platform, page: Page, count: int) -> list[int]:
    """``count`` minor tickets (low batteries of smoke detectors), all in the queue."""
    detectors = [f"smk-{building}-{unit}-{floor}" for building in (1, 2) for unit in (1, 2)
                 for floor in range(1, 7)][:count]
    tickets = [platform.raise_alarm(AlarmKind.LOW_BATTERY, device) for device in detectors]
    expect(page.locator("#queue-counts")).to_have_attribute("data-total", str(count))
    return tickets


def burst(platform: Platform, page: Page, total: int) -> list[int]:
    """A burst of major tickets (leaking circuits), more urgent than the quiet ones."""
    tickets = [platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, f"el-3-1-{floor}")
               for floor in range(1, BURST + 1)]
    expect(page.locator("#queue-counts")).to_have_attribute("data-total", str(total))
    return tickets


def scroll_queue(page: Page, rows: int) -> None:
    """The operator's wheel over the queue, ``rows`` rows down."""
    queue = box(page, "#queue")
    page.mouse.move(queue["x"] + queue["width"] / 3, queue["y"] + queue["height"] / 2)
    page.mouse.wheel(0, rows * ROW_HEIGHT)
    page.wait_for_function("top => document.querySelector('#queue').scrollTop === top",
                           arg=rows * ROW_HEIGHT)
    expect(page.locator(f"#queue .q-row[style*='translateY({rows * ROW_HEIGHT}px)']")
           ).to_be_visible()


def scrolled_down(platform: Platform, page: Page) -> tuple[float, float]:
    """Twenty quiet tickets, the queue scrolled five rows down; returns a point on the third row
    in view."""
    quiet_tickets(platform, page, 20)
    scroll_queue(page, 5)
    queue = box(page, "#queue")
    return queue["x"] + queue["width"] / 3, queue["y"] + 2.5 * ROW_HEIGHT


@contextmanager
def wall(browser: Browser, platform: Platform, page_errors: list[str],
         page_clock: bool = False) -> Iterator[Page]:
    """The property office's wall, signed in (its clock in the test's hands if ``page_clock``);
    no script error by its end."""
    page = open_page(browser, "about:blank", page_errors)
    try:
        if page_clock:
            page.clock.install()
        page.goto(f"{platform.url}/")
        sign_in(page, platform.tokens["property_office"])
        yield page
    finally:
        page.context.close()
    assert page_errors == []


def test_new_tickets_wait_while_the_pointer_rests_on_the_top_row(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    with wall(browser, platform, page_errors) as page:
        quiet = quiet_tickets(platform, page, 6)
        before_burst = order(page)
        assert sorted(before_burst) == sorted(quiet)
        aimed = int(page.locator(FIRST_ROW).get_attribute("data-ticket-id") or "0")
        before = box(page, row(aimed))
        point = centre(before)
        page.mouse.move(*point)
        expect(page.locator("#queue")).to_have_attribute("data-held", "1")
        show = page.locator(".queue-new")
        expect(show).to_be_hidden()

        new = burst(platform, page, 6 + BURST)
        # Nothing moved: the row aimed at is where it was, first, and the others below it.
        expect(show).to_be_visible()
        expect(show).to_have_attribute("data-count", str(BURST))
        expect(show).to_have_text(f"{BURST} 条新工单 · 显示")
        assert box(page, row(aimed)) == before
        assert order(page) == before_burst
        assert under(page, point) == aimed
        assert box(page, ".queue-new")["y"] + 36 <= box(page, "#queue")["y"], "covers the rows"
        page.mouse.click(*point)
        expect(page.locator(f"#drawer[data-ticket-id='{aimed}']")).to_be_visible()

        # The pointer leaves the queue: the new tickets take their places on top.
        page.mouse.move(*centre(box(page, ".map-panel")))
        expect(page.locator("#queue")).to_have_attribute("data-held", "0")
        expect(show).to_be_hidden()
        now = order(page)
        assert sorted(now[:BURST]) == sorted(new)
        assert now[BURST:] == before_burst


def test_a_critical_pop_up_over_the_pointer_keeps_the_row_aimed_at(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    """The pop-up of a critical alarm comes over the pointer resting on a row (the browser says
    the pointer left the queue); dismissed with the keyboard, the pointer is on the same ticket."""
    with wall(browser, platform, page_errors) as page:
        quiet_tickets(platform, page, 6)
        aimed = int(page.locator(FIRST_ROW).get_attribute("data-ticket-id") or "0")
        before = box(page, row(aimed))
        page.mouse.move(*centre(before))
        fire = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-4-1-1")
        popup = page.locator("#popup")
        expect(popup.locator(f".popup-body[data-ticket-id='{fire}']")).to_be_visible()
        expect(page.locator(".queue-new")).to_have_attribute("data-count", "1")
        page.keyboard.press("Escape")
        expect(popup).to_be_hidden()
        expect(page.locator("#queue")).to_have_attribute("data-held", "1")
        assert box(page, row(aimed)) == before
        assert under(page, centre(before)) == aimed
        page.mouse.click(*centre(before))
        expect(page.locator(f"#drawer[data-ticket-id='{aimed}']")).to_be_visible()

        # The pointer goes to the map: the fire takes the queue's first row.
        page.mouse.move(*centre(box(page, ".map-panel")))
        expect(page.locator(FIRST_ROW)).to_have_attribute("data-ticket-id", str(fire))


@pytest.mark.parametrize("pointer", ["on a row", "on the map"])
def test_scrolled_down_the_rows_in_view_stay_as_tickets_arrive_above(
        browser: Browser, platform: Platform, page_errors: list[str], pointer: str) -> None:
    with wall(browser, platform, page_errors) as page:
        point = scrolled_down(platform, page)
        on_a_row = pointer == "on a row"
        # The list is held under the pointer aimed at a row; elsewhere the queue keeps the rows in
        # view where they are by scrolling as many rows as arrive above them.
        page.mouse.move(*(point if on_a_row else centre(box(page, ".map-panel"))))
        expect(page.locator("#queue")).to_have_attribute("data-held", "1" if on_a_row else "0")
        aimed = under(page, point)
        assert aimed is not None
        before = box(page, row(aimed))

        new = burst(platform, page, 20 + BURST)
        show = page.locator(".queue-new")
        expect(show).to_have_attribute("data-count", str(BURST))
        expect(show).to_be_visible()
        assert box(page, row(aimed)) == before
        assert hits(page, point, row(aimed))
        assert page.evaluate("() => document.querySelector('#queue').scrollTop") == (
            (5 if on_a_row else 5 + BURST) * ROW_HEIGHT)
        page.mouse.click(*point)
        expect(page.locator(f"#drawer[data-ticket-id='{aimed}']")).to_be_visible()

        # The button, reached without leaving the queue, brings the list to its top, the new
        # tickets first; the pointer is still on the queue, so the list holds again.
        show.click()
        expect(show).to_be_hidden()
        assert page.evaluate("() => document.querySelector('#queue').scrollTop") == 0
        expect(page.locator("#queue")).to_have_attribute("data-held", "1")
        assert sorted(order(page)[:BURST]) == sorted(new)


def test_a_pointer_left_still_lets_the_new_tickets_in(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    """An unattended wall with the pointer parked on the queue shows its alarms: the hold ends
    after 20 s without a move (the page's clock run forward, no waiting)."""
    with wall(browser, platform, page_errors, page_clock=True) as page:
        quiet = quiet_tickets(platform, page, 6)
        page.mouse.move(*centre(box(page, FIRST_ROW)))
        expect(page.locator("#queue")).to_have_attribute("data-held", "1")
        new = burst(platform, page, 6 + BURST)
        expect(page.locator(".queue-new")).to_have_attribute("data-count", str(BURST))
        page.clock.run_for(15_000)  # still held: reading a row takes a while
        expect(page.locator("#queue")).to_have_attribute("data-held", "1")
        assert sorted(order(page)) == sorted(quiet)

        page.clock.run_for(6_000)
        expect(page.locator("#queue")).to_have_attribute("data-held", "0")
        expect(page.locator(".queue-new")).to_be_hidden()
        assert sorted(order(page)[:BURST]) == sorted(new)
