"""Live behaviour in headless chromium: the event-stream parser against awkward chunking, and a
long ticket list that stays a handful of DOM rows while updates arrive in bursts."""

from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import Page, expect

from gongzhi.core.alarms import AlarmKind
from tests.pages.pages_support import (
    ROW_HEIGHT,
    Platform,
    dismiss_popups,
    estate_registry,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

KINDS = (AlarmKind.LOW_BATTERY, AlarmKind.SENSOR_FAULT, AlarmKind.ELECTRICAL_LEAKAGE,
         AlarmKind.TAMPER)


PARSER_CHECK = """async (chunks) => {
  const { SseParser } = await import("/static/js/sse.js");
  const events = [];
  const retries = [];
  const parser = new SseParser((e) => events.push(e), (ms) => retries.push(ms));
  for (const chunk of chunks) parser.feed(chunk);
  return { events, retries };
}"""


def test_the_event_stream_parser_survives_any_chunking(page: Page) -> None:
    stream = (": connected\r\n\r\n"
              "id: 7\r\nevent: ticket\r\ndata: {\"id\": 1,\r\ndata:  \"kind\": \"fire\"}\r\n\r\n"
              ": keepalive\n\n"
              "retry: 1500\n"
              "event: ticket\ndata:{\"id\": 2}\n\n"  # no id: the last one stays
              "id: 9\revent: resync\rdata\r\r"
              "event: ignored-without-data\n\n"
              "id: 10\ndata: tail")  # incomplete: not dispatched
    expected = [
        {"id": "7", "type": "ticket", "data": "{\"id\": 1,\n \"kind\": \"fire\"}"},
        {"id": "7", "type": "ticket", "data": "{\"id\": 2}"},
        {"id": "9", "type": "resync", "data": ""},
    ]
    whole = page.evaluate(PARSER_CHECK, [stream])
    assert whole["events"][:2] == expected[:2]
    # A field named "data" with no colon carries an empty line of data: dispatched too.
    assert whole["events"] == expected and whole["retries"] == [1500]
    # Every split point, including between "\r" and "\n", gives the same events.
    for cut in range(1, len(stream)):
        split = page.evaluate(PARSER_CHECK, [stream[:cut], stream[cut:]])
        assert split["events"] == expected, f"split at {cut}: {stream[cut - 3:cut + 3]!r}"
    by_char = page.evaluate(PARSER_CHECK, list(stream))
    assert by_char["events"] == expected


def test_a_long_queue_stays_a_short_list_and_takes_bursts(page: Page,
                                                          platform: Platform) -> None:
    devices = [r.device_id for r in estate_registry()]
    tickets = [platform.raise_alarm(kind, device)
               for kind, device in itertools.islice(itertools.product(KINDS, devices), 300)]
    sign_in(page, platform.tokens["property_office"])
    dismiss_popups(page)
    counts = page.locator("#queue-counts")
    expect(counts).to_have_attribute("data-total", str(len(set(tickets))))
    rows = page.locator(".q-row:not([hidden])")
    in_dom = rows.count()
    assert 10 <= in_dom <= 30  # the rows in view and a few more, not 300

    queue = page.locator("#queue")
    queue.evaluate("q => { q.scrollTop = q.scrollHeight; }")
    last_offset = (len(set(tickets)) - 1) * ROW_HEIGHT
    expect(page.locator(".q-row:not([hidden])").last).to_have_attribute(
        "style", f"height: {ROW_HEIGHT}px; transform: translateY({last_offset}px);")
    assert rows.count() <= 30
    queue.evaluate("q => { q.scrollTop = 0; }")
    # The list renders on the next animation frame: wait for the top rows to be back.
    expect(page.locator(".q-row:not([hidden])[style*='translateY(0px)']")).to_have_count(1)

    # A burst: the same anomalies again and again, as fast as the platform takes them.
    # The five rows at the top of the list (rows are recycled: the DOM order is not the order
    # on screen).
    visible = [int(x) for x in rows.evaluate_all("""rs => rs
        .map(r => [new DOMMatrix(getComputedStyle(r).transform).m42, r.dataset.ticketId])
        .sort((a, b) => a[0] - b[0]).map(p => p[1])""")][:5]
    by_id = {t["id"]: t for t in platform.get("/api/tickets", "property_office", limit=500)}
    body = page.locator("body")
    events_before = int(body.get_attribute("data-events") or 0)
    renders_before = int(body.get_attribute("data-renders") or 0)
    frames = page.evaluate_handle("""() => {
      const counter = { n: 0 };
      const tick = () => { counter.n += 1; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      return counter;
    }""")
    repeats = 0
    for _ in range(5):
        for ticket_id in visible:
            ticket = by_id[ticket_id]
            platform.raise_alarm(AlarmKind(ticket["kind"]), ticket["device_id"])
            repeats += 1
    for ticket_id in visible:
        row = page.locator(f".q-row[data-ticket-id='{ticket_id}'] .q-count")
        expect(row).to_have_text(f"×{by_id[ticket_id]['occurrences'] + 5}")
    assert int(body.get_attribute("data-events") or 0) - events_before >= repeats
    # Never more than one render per animation frame, however the updates arrive.
    renders = int(body.get_attribute("data-renders") or 0) - renders_before
    assert 0 < renders <= frames.evaluate("c => c.n") + 1
