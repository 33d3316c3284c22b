"""The Content-Security-Policy in headless chromium: the pages and Swagger UI at /docs work under
it with no violation, and an injected inline script is refused (so the check can see one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hub_helpers import Server, alarm, free_port
from playwright.sync_api import Browser, Page, sync_playwright

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.settings import Settings
from gongzhi.hub.app import create_app
from tests.pages.pages_support import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Runs before the page's own scripts in every document (injected by the browser, not by the
# page, so the policy under test does not apply to it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture
def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'platform.db'}"


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    running = Server(create_app(settings, background=False), free_port()).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (no browser is downloaded); it ends with the Playwright session."""
    with sync_playwright() as playwright:
        yield playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class Watched:
    """A fresh tab recording policy violations and console errors."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1600, "height": 900})
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text)
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda exc: self.console.append(str(exc)))

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found + [m for m in self.console if "Content Security Policy" in m]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Watched]:
    watched = Watched(browser)
    try:
        yield watched
    finally:
        watched.close()


def test_swagger_ui_renders_under_its_own_policy(server: Server, tab: Watched):
    tab.page.goto(f"{server.url}/docs")
    tab.page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Gongzhi platform" in tab.page.inner_text(".swagger-ui .info .title")
    tab.page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = tab.page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/tickets/{ticket_id}/actions" in {p.replace("\u200b", "") for p in paths}
    assert tab.violations() == []
    assert tab.console == []
    # Any other inline script is refused: the policy is enforced and the check sees it.
    tab.page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__injected = 1"; document.body.appendChild(s); }""")
    tab.page.wait_for_function("window.__violations.length > 0", timeout=5_000)
    assert tab.page.evaluate("window.__injected") is None
    assert tab.violations()[0].startswith("script-src-elem inline")


def test_the_wall_works_under_the_pages_policy(server: Server, tab: Watched,
                                               tokens: dict[str, str]):
    page = tab.page
    page.goto(f"{server.url}/")
    page.locator("#signin-token").fill(tokens["property_office"])
    page.locator("#signin-form button[type=submit]").click()
    page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
    page.wait_for_selector("body[data-conn='live']", timeout=15_000)
    page.locator("#sound-enable").click()
    # A fire alarm arrives by server push: pop-up, sound (media-src), live stream (connect-src).
    with httpx.Client(base_url=server.url) as client:
        answer = client.post("/api/alarms", json=alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"),
                             headers={"Authorization": f"Bearer {tokens['gateway']}"})
    assert answer.status_code == 200
    ticket_id = answer.json()["ticket_id"]
    page.wait_for_selector(f"#popup .popup-body[data-ticket-id='{ticket_id}']",
                           timeout=15_000)
    page.wait_for_selector("body[data-sound-plays='1']", timeout=15_000)
    assert tab.violations() == []
    page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__injected = 1"; document.body.appendChild(s); }""")
    page.wait_for_function("window.__violations.length > 0", timeout=5_000)
    assert page.evaluate("window.__injected") is None
