"""The alarm wall in a real headless chromium against a real platform: sign-in, live tickets
without reload, the fire on the map, acknowledging through the API, surviving a restart."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.hub.app import create_app
from tests.pages.pages_support import (
    ESTATE,
    Platform,
    dismiss_popups,
    open_page,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def row(page: Page, ticket_id: int) -> object:
    return page.locator(f".q-row[data-ticket-id='{ticket_id}']")


def test_a_fire_reaches_the_wall_within_a_second_with_its_place_lit(
        page: Page, platform: Platform, page_errors: list[str]) -> None:
    expect(page.locator("#signin")).to_be_visible()
    screenshot(page, "sign-in")
    page.locator("#signin-token").fill("not-a-token-of-any-party")
    page.locator("#signin-form button[type=submit]").click()
    expect(page.locator("#signin-error")).to_have_text("令牌无效，请核对后重试")
    assert page_errors == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    page_errors.clear()
    sign_in(page, platform.tokens["property_office"])
    page.locator("#sound-enable").click()
    expect(page.locator("body")).to_have_attribute("data-sound", "on")
    expect(page.locator(".building")).to_have_count(4)

    ticket_id = platform.raise_alarm(AlarmKind.FIRE, "smk-2-1-4", rule="two_detectors",
                                     detectors=["smk-2-1-4", "smk-2-1-5"])
    # Server push, no reload: the pop-up, the queue row and the critical card within a second.
    popup = page.locator(f"#popup .popup-body[data-ticket-id='{ticket_id}']")
    expect(popup).to_be_visible(timeout=1000)
    expect(row(page, ticket_id)).to_have_count(1, timeout=1000)
    place = page.locator(f".place[data-place='{ESTATE}|2|1|4']")
    expect(place).to_have_attribute("data-severity", "critical", timeout=1000)
    expect(place).to_have_class("place blink flash")
    expect(popup.locator(".popup-kind")).to_have_text("火警")
    expect(popup.locator(".popup-loc")).to_have_text("2栋 1单元 4层 401")
    expect(page.locator("body")).to_have_attribute("data-sound-plays", "1")
    screenshot(page, "wall-fire-popup")

    popup.get_by_role("button", name="已知晓").click()
    expect(page.locator("#popup")).to_be_hidden()
    card = page.locator(f".critical-card[data-ticket-id='{ticket_id}']")
    expect(card).to_contain_text("火警")
    expect(card.locator(".c-sla")).to_contain_text("剩余")
    # Severity is told by an icon and a word, not by colour alone.
    expect(row(page, ticket_id).locator(".sev-badge .sev-icon")).to_have_count(1)
    expect(row(page, ticket_id).locator(".sev-text")).to_have_text("危急")
    # Device health from the gateway's reports.
    counts = platform.device_counts
    online = counts["devices"] - counts["offline"]
    expect(page.locator("[data-kpi=online] .kpi-label")).to_contain_text(
        f"{online}/{counts['devices']}")
    expect(page.locator("[data-kpi=low-battery] .kpi-value")).to_have_text(
        str(counts["low_battery"]))
    expect(page.locator(".offline-list li")).to_have_text([f"3栋{counts['offline']}"])
    expect(page.locator(".place.offline")).to_have_count(3)  # building 3, unit 2, floors 1-3
    # Trends from the telemetry store: four risers against the low-pressure line, and the
    # leaking circuit on top of the leakage ranking, marked as past its threshold.
    expect(page.locator("#trends .legend-item")).to_have_count(4)
    expect(page.locator("#trends .chart .threshold")).to_have_count(2)
    expect(page.locator("#trends .bars .bar-alarm")).to_have_count(1)
    screenshot(page, "wall")

    # The drawer shows the household masked as the property office may see it.
    card.click()
    drawer = page.locator(f"#drawer[data-ticket-id='{ticket_id}']")
    expect(drawer.locator(".household")).to_contain_text("138****0241")
    expect(drawer).not_to_contain_text("13812340241")
    drawer.locator(".drawer-close").click()

    # Muted: a new critical alarm still pops up, silently, until the mute runs out.
    page.locator("#sound-mute").click()
    expect(page.locator("body")).to_have_attribute("data-sound", "muted")
    expect(page.locator("#sound-mute")).to_contain_text("静音中 04:5")
    second = platform.raise_alarm(AlarmKind.SMOKE_ALARM, "smk-3-1-6")
    expect(page.locator(f"#popup .popup-body[data-ticket-id='{second}']")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-sound-plays", "1")
    dismiss_popups(page)
    page.locator("#sound-mute").click()
    expect(page.locator("body")).to_have_attribute("data-sound", "on")


def test_acknowledge_changes_the_ticket_through_the_api(page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["property_office"])
    dismiss_popups(page)  # the open fire of the test before
    fire = platform.raise_alarm(AlarmKind.FIRE, "smk-1-1-2", rule="fire_fusion")
    # Acknowledging from the pop-up goes to the API.
    popup = page.locator(f"#popup .popup-body[data-ticket-id='{fire}']")
    expect(popup).to_be_visible()
    popup.locator("[data-action=ack]").click()
    expect(row(page, fire)).to_have_attribute("data-status", "acknowledged")
    assert platform.get(f"/api/tickets/{fire}", "property_office")["status"] == "acknowledged"
    dismiss_popups(page)

    window = {"start_ms": platform.clock.now_ms() - 60_000, "end_ms": platform.clock.now_ms()}
    leak = platform.raise_alarm(AlarmKind.ELECTRICAL_LEAKAGE, "el-1-2-3", rule="threshold",
                                metric="residual_ma", op=">=", threshold=300.0, value=398.0,
                                window=window)
    expect(row(page, leak)).to_have_attribute("data-status", "open")
    row(page, leak).locator("[data-action=ack]").click()
    expect(row(page, leak)).to_have_attribute("data-status", "acknowledged")
    assert platform.get(f"/api/tickets/{leak}", "property_office")["status"] == "acknowledged"

    # The drawer: location, masked household data, evidence against the threshold, timeline.
    row(page, leak).click()
    drawer = page.locator(f"#drawer[data-ticket-id='{leak}']")
    expect(drawer).to_be_visible()
    expect(drawer.locator(".drawer-kind")).to_have_text("漏电")
    expect(drawer).to_contain_text("1栋 2单元 3层 302")
    expect(drawer.locator(".evidence svg .threshold")).to_have_count(1)
    expect(drawer.locator(".evidence svg path.series")).to_have_count(1)
    expect(drawer.locator(".timeline li[data-action='ack']")).to_have_count(1)
    drawer.locator("textarea.note").fill("电工已出发")
    drawer.locator("[data-action=dispatch]").click()
    expect(drawer.locator(".drawer-status")).to_have_text("已派单")
    detail = platform.get(f"/api/tickets/{leak}", "property_office")
    assert detail["status"] == "dispatched"
    assert [e["note"] for e in detail["timeline"] if e["action"] == "dispatch"] == ["电工已出发"]
    expect(drawer.locator(".timeline .tl-note")).to_have_text("电工已出发")
    screenshot(page, "wall-drawer")


def test_the_wall_catches_up_after_a_platform_restart(page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["property_office"])
    dismiss_popups(page)
    before = platform.raise_alarm(AlarmKind.LOW_BATTERY, "smk-4-2-1")
    expect(row(page, before)).to_have_count(1)  # the page now holds an event id
    requests: list[tuple[str, dict[str, str]]] = []
    page.on("request", lambda r: requests.append((r.url, r.headers)))

    platform.stop()
    expect(page.locator("body")).to_have_attribute("data-conn", "disconnected")
    expect(page.locator("#disconnected")).to_be_visible()
    expect(page.locator("#conn")).to_contain_text("连接中断")
    screenshot(page, "wall-disconnected")

    # Alarms that arrive while this page's server is down (delivered to a replica on the same
    # database, as the gateway's outbox would after a restart).
    with TestClient(create_app(platform.settings, background=False)) as replica:
        raised = []
        for kind, device in ((AlarmKind.TAMPER, "smk-3-2-2"),
                             (AlarmKind.WATER_PRESSURE_LOW, "wp-3")):
            alarm = Alarm(alarm_id=f"al-down-{device}", kind=kind, device_id=device,
                          estate_id=ESTATE, ts_ms=platform.clock.now_ms())
            response = replica.post("/api/alarms", json=alarm.to_dict(),
                                    headers=platform.auth("gateway"))
            assert response.status_code == 200, response.text
            raised.append(response.json()["ticket_id"])

    platform.start()
    expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=15_000)
    for ticket_id in raised:
        expect(row(page, ticket_id)).to_have_count(1)
    expect(page.locator("#disconnected")).to_be_hidden()
    # Caught up by replaying from the last event id, not by reloading the list.
    streams = [headers for url, headers in requests if url.endswith("/api/stream")]
    assert streams and all("last-event-id" in headers for headers in streams)
    assert not any("/api/tickets?" in url for url, _ in requests)
    # The token travels in a header only.
    token = platform.tokens["property_office"]
    assert not any(token in url for url, _ in requests)


def test_each_party_sees_only_its_own(browser: Browser, platform: Platform,
                                      page_errors: list[str]) -> None:
    police = open_page(browser, f"{platform.url}/police", page_errors)
    owners = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(police, platform.tokens["police_room"])
        sign_in(owners, platform.tokens["owners_committee"])
        dismiss_popups(police)
        water = platform.raise_alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-2")
        tamper = platform.raise_alarm(AlarmKind.TAMPER, "smk-4-1-6")
        # The police room is assigned the tamper; the water pressure is none of its business.
        expect(row(police, tamper)).to_have_count(1)
        expect(row(police, tamper)).to_have_attribute("data-severity", "major")
        expect(police.locator(f".place[data-place='{ESTATE}|4|1|6']")).to_have_attribute(
            "data-severity", "major")
        expect(row(police, water)).to_have_count(0)
        expect(police.locator("#view-title")).to_have_text("警务室联动台")
        expect(police.locator("#trends-panel")).to_be_hidden()
        police_ids = {int(i) for i in police.locator(".q-row:not([hidden])").evaluate_all(
            "rows => rows.map(r => r.dataset.ticketId)")}
        api_ids = {t["id"] for t in platform.get("/api/tickets", "police_room",
                                                 status="open,acknowledged,dispatched,on_site")}
        assert tamper in police_ids and police_ids == api_ids
        screenshot(police, "police")
        # The owners' committee is neither assigned nor notified of either.
        expect(owners.locator("#queue-counts")).to_have_attribute("data-total", "0")
        expect(owners.locator(".q-row:not([hidden])")).to_have_count(0)
        # Neither prints the residents' QR sheet: the wall offers it to neither.
        expect(police.locator("#qr-sheet")).to_be_hidden()
        expect(owners.locator("#qr-sheet")).to_be_hidden()
    finally:
        police.context.close()
        owners.context.close()
    assert page_errors == []


def test_english_switch_relabels_the_wall(page: Page, platform: Platform) -> None:
    # A critical ticket of its own: the module's other tests may run in another worker.
    platform.raise_alarm(AlarmKind.FIRE, "smk-4-2-6", rule="two_detectors",
                         detectors=["smk-4-2-6", "smk-4-2-5"])
    sign_in(page, platform.tokens["property_office"])
    dismiss_popups(page)
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#view-title")).to_have_text("Alarm wall")
    expect(page.locator(".queue-panel .panel-title")).to_have_text("Ticket queue")
    expect(page.locator(".q-row[data-severity='critical'] .sev-text").first).to_have_text(
        "Critical")
    screenshot(page, "wall-en")
    # The property office opens the residents' QR sheet of its estate from the top bar, signed
    # in with the wall's token.
    qr = page.locator("#qr-sheet")
    expect(qr).to_have_text("Residents' QR codes")
    expect(qr).to_have_attribute("href", f"/reports/qr?estate={ESTATE}")
    with page.context.expect_page() as opened:
        qr.click()
    sheet = opened.value
    try:
        expect(sheet.locator("body")).to_have_attribute("data-loaded", "1")
        expect(sheet.locator(".qr-card")).to_have_count(4)
        expect(sheet.locator("#signin")).to_have_count(0)
    finally:
        sheet.close()
    page.locator("#lang").click()
    expect(page.locator("#view-title")).to_have_text("物业告警墙")
