"""Fixtures of the page tests: one real platform and one headless chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.pages.pages_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Platform,
    open_page,
    running_platform,
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for the module's tests (each test raises its own tickets)."""
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        running.device_counts = running.report_devices()
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, platform: Platform, page_errors: list[str]) -> Iterator[Page]:
    """A fresh wall tab on the module's platform (not signed in); no script error by the end."""
    opened = open_page(browser, f"{platform.url}/", page_errors)
    try:
        yield opened
    finally:
        opened.context.close()
    assert page_errors == []
