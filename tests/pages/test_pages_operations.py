"""The wall says when it cannot be trusted, in headless chromium: alarms waiting at the gateway,
what a gateway says it cannot do, a gateway not heard from, the platform's database unreachable
(the page still loads and says so). The platform's clock is the test's; the gateway's reports
are its HTTP requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.clock import ManualClock
from gongzhi.hub.operations import SILENT_AFTER_MS
from tests.chaos.chaos_proxy import TcpProxy
from tests.pages.pages_support import Platform, make_platform, open_page, running_platform, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

POLL_MS = 8_000  # the wall polls every 5 s


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Platform, ManualClock]]:
    clock = ManualClock()
    with running_platform(tmp_path / "platform", clock) as running:
        yield running, clock


def english(page: Page) -> None:
    page.locator("#lang").click()


def test_the_wall_shows_alarms_waiting_at_the_gateway_and_a_silent_gateway(
        browser: Browser, clocked: tuple[Platform, ManualClock], page_errors: list[str]) -> None:
    platform, clock = clocked
    platform.report_gateway()
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        english(page)
        banner = page.locator("#ops-banner")
        expect(banner).to_be_hidden()

        platform.report_gateway(alarms_waiting=4, oldest_waiting_age_ms=12_000)
        waiting = banner.locator(".ops-problem[data-kind='alarms_waiting']")
        expect(waiting).to_be_visible(timeout=POLL_MS)
        expect(waiting).to_contain_text("alarms are waiting at the gateway: 4, since")

        platform.report_gateway()  # delivered
        expect(banner).to_be_hidden(timeout=POLL_MS)

        down = "source telecom is down: the push front end ended"
        platform.report_gateway(problems=[down])  # in the gateway's own words
        said = banner.locator(".ops-problem[data-kind='gateway_problem']")
        expect(said.locator(".ops-text")).to_have_text(f"gateway gateway says: {down}",
                                                     timeout=POLL_MS)
        platform.report_gateway()
        expect(banner).to_be_hidden(timeout=POLL_MS)

        clock.advance(SILENT_AFTER_MS)  # and no report since
        silent = banner.locator(".ops-problem[data-kind='gateway_silent']")
        expect(silent).to_be_visible(timeout=POLL_MS)
        expect(silent).to_contain_text("gateway gateway not heard from since")
    finally:
        page.context.close()
    assert page_errors == []


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]  # user and password, if any
    netloc = f"{userinfo}@" if userinfo else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))


@pytest.mark.postgres
def test_the_wall_loads_and_says_when_the_database_is_unreachable(
        browser: Browser, tmp_path: Path, postgres_url: str, page_errors: list[str]) -> None:
    pg = urlsplit(postgres_url)
    proxy = TcpProxy((pg.hostname or "127.0.0.1", pg.port or 5432))
    proxy.start()
    platform = make_platform(tmp_path / "platform")
    platform.settings = platform.settings.model_copy(
        update={"database_url": via_proxy(postgres_url, proxy)})
    platform.start()
    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        platform.report_gateway()
        sign_in(page, platform.tokens["property_office"])
        english(page)
        proxy.cut()
        database = page.locator("#ops-banner .ops-problem[data-kind='database_unreachable']")
        expect(database).to_be_visible(timeout=POLL_MS)
        expect(database).to_contain_text("the platform cannot reach its database since")
        assert platform.http.get("/readyz").status_code == 503

        page.reload()  # a wall (re)started during the outage still loads and says so
        expect(page.locator("#ops-banner .ops-problem[data-kind='database_unreachable']")
               ).to_be_visible(timeout=POLL_MS)

        proxy.restore()
        expect(page.locator("#ops-banner")).to_be_hidden(timeout=POLL_MS)
        assert platform.http.get("/readyz").status_code == 200
    finally:
        page.context.close()
        platform.close()
        proxy.stop()
