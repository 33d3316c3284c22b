"""The shipped demo estate (a dozen buildings, about 1,000 devices, roof tanks and a pump room)
on the wall: the map is generated from the simulator's registry and fits the panel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import load_registry
from gongzhi.simulators.layout import write_estate_registry
from tests.pages.pages_support import (
    Platform,
    dismiss_popups,
    make_platform,
    open_page,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = make_platform(tmp_path_factory.mktemp("demo-estate"))
    write_estate_registry("demo", running.settings.registry_path)
    running.start()
    try:
        yield running
    finally:
        running.close()


def test_the_demo_estate_is_drawn_from_its_registry(browser: Browser, platform: Platform,
                                                     page_errors: list[str]) -> None:
    records = list(load_registry(platform.settings.registry_path))
    estate = records[0].location.estate_id
    buildings = {r.location.building for r in records}
    smoke = [r for r in records if r.type is DeviceType.SMOKE and r.location.unit == "2"
             and r.location.floor == "5"]
    tank = next(r for r in records
                if r.type is DeviceType.WATER_PRESSURE and r.location.floor == "roof")
    fire = platform.raise_alarm(AlarmKind.FIRE, smoke[2].device_id, estate)
    platform.raise_alarm(AlarmKind.WATER_PRESSURE_LOW, tank.device_id, estate)
    platform.raise_alarm(AlarmKind.LOW_BATTERY, smoke[8].device_id, estate)

    page = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        dismiss_popups(page)
        expect(page.locator(".building")).to_have_count(len(buildings))
        loc = smoke[2].location
        place = page.locator(f".place[data-place='{estate}|{loc.building}|2|5']")
        expect(place).to_have_attribute("data-severity", "critical")
        expect(page.locator(f".q-row[data-ticket-id='{fire}']")).to_have_count(1)
        # The roof tank has no unit: its place spans the building's width, on top.
        roof = page.locator(f".place[data-place='{estate}|{tank.location.building}||roof']")
        expect(roof).to_have_attribute("data-severity", "major")
        assert roof.evaluate("el => el.style.gridColumn") == "2 / span 2"
        # Every building fits the panel: no scrolling to find a fire.
        assert page.locator("#map").evaluate("m => m.scrollHeight <= m.clientHeight + 1")
        screenshot(page, "wall-demo-estate")
    finally:
        page.context.close()
    assert page_errors == []
