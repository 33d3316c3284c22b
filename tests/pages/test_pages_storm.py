"""An alarm storm (a district's power cut: 20,000 alarms of 2,000 devices at once) drained by the
real gateway sender (its on-disk outbox, in batches) into the real ``gongzhi platform`` process
on PostgreSQL, while a wall in headless chromium is in use: a click on a ticket opens its drawer
during the drain, every alarm is one receipt and one occurrence in the database, nothing is
dead or left in the outbox, and the wall ends up holding every active ticket."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import SystemClock
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.platform_client import PlatformClient, TokenSource
from tests.conftest import free_port
from tests.e2e.harness import make_system
from tests.pages.pages_support import open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.postgres]

ESTATE = "storm"
DEVICES = 2_000
ALARMS = 20_000
# What a power cut brings: devices dropping off, voltage out of range, protective trips.
KINDS = (AlarmKind.DEVICE_OFFLINE, AlarmKind.VOLTAGE_ABNORMAL, AlarmKind.OVERCURRENT,
         AlarmKind.ELECTRICAL_LEAKAGE)


def district() -> list[DeviceRecord]:
    """Ten buildings of two units and twenty floors, five flats a floor, one monitor each."""
    found = []
    for i in range(DEVICES):
        building, rest = divmod(i, 200)
        unit, rest = divmod(rest, 100)
        floor, flat = divmod(rest, 5)
        found.append(DeviceRecord(f"pm-{i:04d}", DeviceType.ELECTRICAL, Location(
            ESTATE, str(building + 1), str(unit + 1), str(floor + 1), f"{floor + 1}0{flat + 1}"),
            household=f"h{i}"))
    return found


def storm(now_ms: int) -> list[Alarm]:
    """Each device gets ten alarms of two kinds (five occurrences of each), interleaved as a
    storm arrives: 4,000 tickets."""
    return [Alarm(f"storm-{n}", KINDS[(n // DEVICES) % 2 + 2 * ((n % DEVICES) % 2)],
                  f"pm-{n % DEVICES:04d}", ESTATE, now_ms - 120_000 + n,
                  evidence={"rule": "storm", "n": n})
            for n in range(ALARMS)]


def one(conn: psycopg.Connection[Any], sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.timeout(600)  # a drain of seconds on a quiet machine, minutes on a crowded one
def test_the_wall_answers_while_a_storm_of_20000_alarms_drains(
        browser: Browser, tmp_path: Path, postgres_url: str, page_errors: list[str]) -> None:
    sysm = make_system(tmp_path / "system", "mqtt://127.0.0.1:1", free_port)
    write_registry(sysm.root / "registry.csv", district())
    platform = sysm.add("platform", "platform")
    platform.env["GONGZHI_DATABASE_URL"] = postgres_url
    outbox = AlarmOutbox(tmp_path / "gateway" / "outbox.db")
    outbox.open()
    client = PlatformClient(sysm.base, TokenSource(sysm.tokens["gateway"],
                                                   tmp_path / "no-tokens.json"))
    sender = AlarmSender(outbox, client, GatewayMetrics(), SystemClock())
    platform.start()
    page = None
    try:
        sysm.wait_healthy(f"{sysm.base}/readyz", timeout=60)
        page = open_page(browser, f"{sysm.base}/", page_errors)
        sign_in(page, sysm.tokens["property_office"])
        assert outbox.add(storm(time.time_ns() // 1_000_000), SystemClock().now_ms()) == ALARMS

        sender.start()
        sender.wake()
        opened_during_drain = 0
        clicks = 0
        drawer = page.locator("#drawer")
        while outbox.waiting()[0] > 0 and clicks < 50:
            row = page.locator(".q-row:not([hidden])").first
            if row.count() == 0:
                threading.Event().wait(0.05)  # the first tickets are on their way
                continue
            row.click()
            expect(drawer).to_be_visible(timeout=15_000)
            expect(drawer.locator(".drawer-kind")).not_to_be_empty(timeout=15_000)
            clicks += 1
            if outbox.waiting()[0] > 0:  # the storm was still draining when it opened
                opened_during_drain += 1
            # With the pointer: nothing arriving in the storm moves the close button.
            drawer.locator(".drawer-close").click()
            # The page may be busy with the storm's batches on a loaded machine: patience here
            # is not a speed figure (the bench measures that).
            expect(drawer).to_be_hidden(timeout=45_000)

        deadline = time.monotonic() + 300
        while outbox.waiting()[0] > 0:
            assert time.monotonic() < deadline, f"still waiting: {outbox.counts()}"
            threading.Event().wait(0.2)
        assert opened_during_drain >= 1, "the drain ended before the wall was used"
        assert outbox.counts() == {"pending": 0, "sent": ALARMS, "dead": 0}

        with psycopg.connect(postgres_url) as conn:
            receipts = one(conn, "SELECT count(*), count(DISTINCT alarm_id), count(ticket_id) "
                                 "FROM alarm_receipts")
            tickets, occurrences = one(conn, "SELECT count(*), sum(occurrences) FROM tickets")
        assert receipts == (ALARMS, ALARMS, ALARMS)
        assert (tickets, occurrences) == (2 * DEVICES, ALARMS)

        # The wall missed nothing: it holds every active ticket, and still answers.
        expect(page.locator("#queue-counts")).to_have_attribute(
            "data-total", str(2 * DEVICES), timeout=60_000)
        page.locator(".q-row:not([hidden])").first.click()
        expect(drawer).to_be_visible(timeout=15_000)
    finally:
        sender.stop()
        client.close()
        outbox.close()
        if page is not None:
            page.context.close()
        platform.stop()
    assert page_errors == []
