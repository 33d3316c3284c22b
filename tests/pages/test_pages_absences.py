"""Declared absences on the wall, in a real headless chromium against a real platform: the
residents' committee, at a welfare check whose visit finds the person away, declares the absence
from the ticket; the rest of the trip raises no ticket; "back home" ends it. The police room reads
the absences and can change none; the property office is not offered them."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from gongzhi.core.alarms import Alarm, AlarmKind
from tests.pages.pages_support import (
    ESTATE,
    Platform,
    dismiss_popups,
    fill_local_time,
    open_page,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOUSEHOLD = "1-1-401"  # building 1, floor 4: flagged elderly-alone in the page tests' registry
MONITOR = "el-1-1-4"


def welfare_alarm(platform: Platform, alarm_id: str) -> Any:
    alarm = Alarm(alarm_id=alarm_id, kind=AlarmKind.WELFARE_CHECK, device_id=MONITOR,
                  estate_id=ESTATE, ts_ms=platform.clock.now_ms(),
                  evidence={"rule": "first_activity"})
    response = platform.http.post("/api/alarms", json=alarm.to_dict(),
                                  headers=platform.auth("gateway"))
    assert response.status_code == 200, response.text
    return response.json()["ticket_id"]


def test_the_committee_declares_an_absence_from_a_welfare_check_and_ends_it(
        page: Page, platform: Platform) -> None:
    ticket_id = welfare_alarm(platform, "al-away-page-1")
    assert isinstance(ticket_id, int)
    sign_in(page, platform.tokens["residents_committee"])
    dismiss_popups(page)
    expect(page.locator("#view-title")).to_have_text("告警与工单")  # not the office's wall
    page.locator(f".q-row[data-ticket-id='{ticket_id}']").click()
    drawer = page.locator(f"#drawer[data-ticket-id='{ticket_id}']")
    declare = drawer.locator("[data-action=declare_away]")
    expect(declare).to_have_text("登记外出…")
    declare.click()

    dialog = page.locator("#absences")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#away-household")).to_have_value(f"{ESTATE}|{HOUSEHOLD}")
    # Only the households flagged elderly-alone are offered (and the empty choice).
    expect(dialog.locator("#away-household option")).to_have_count(1 + len(
        platform.get("/api/away/households", "residents_committee")))
    until = page.evaluate("Date.now() + 3 * 86400000 - (Date.now() % 60000)")
    fill_local_time(page, "#away-until", until)
    dialog.locator("#away-note").fill("去女儿家，邻居告知")
    dialog.locator(".absence-form button[type=submit]").click()

    expect(dialog.locator(".away-message")).to_have_text("已登记外出")
    [absence] = [a for a in platform.get("/api/away", "residents_committee")
                 if a["note"] == "去女儿家，邻居告知"]
    row = dialog.locator(f".away-row[data-id='{absence['id']}']")
    expect(row).to_have_attribute("data-state", "away")
    expect(row).to_contain_text("1栋 1单元 4层 401 · 1-1-401")
    expect(row).to_contain_text("去女儿家，邻居告知")
    screenshot(page, "wall-absences")
    assert (absence["estate_id"], absence["household"]) == (ESTATE, HOUSEHOLD)
    assert absence["ends_at"] == until and absence["ended_at"] is None
    assert absence["note"] == "去女儿家，邻居告知"

    # The next morning of the trip: its welfare alarm is held by the absence, no ticket.
    assert welfare_alarm(platform, "al-away-page-2") is None
    dialog.locator(".btn-quiet").click()  # closed and opened again: the list is read afresh
    page.locator("#absences-open").click()
    expect(row).to_contain_text("期间告警 1 条，未建单")

    # Back sooner: the absence ends now, and the row says so.
    row.locator("[data-action=end]").click()
    expect(row).to_have_attribute("data-state", "ended")
    expect(dialog.locator(".away-message")).to_have_text("已记为回家")
    expect(row.locator("[data-action=end]")).to_have_count(0)
    assert [a["ended_at"] is not None for a in platform.get("/api/away", "residents_committee")
            if a["id"] == absence["id"]] == [True]


def test_the_police_room_reads_absences_and_the_property_office_is_not_offered_them(
        browser: Browser, page: Page, platform: Platform, page_errors: list[str]) -> None:
    made = platform.http.post("/api/away", headers=platform.auth("residents_committee"), json={
        "estate_id": ESTATE, "household": HOUSEHOLD, "note": "住院",
        "ends_at": platform.clock.now_ms() + 86_400_000})
    assert made.status_code == 201, made.text
    police = open_page(browser, f"{platform.url}/police", page_errors)
    try:
        sign_in(police, platform.tokens["police_room"])
        dismiss_popups(police)
        police.locator("#absences-open").click()
        dialog = police.locator("#absences")
        row = dialog.locator(f".away-row[data-id='{made.json()['id']}']")
        expect(row).to_have_attribute("data-state", "away")
        expect(row).to_contain_text("住院")
        expect(dialog.locator("form")).to_have_count(0)  # nothing to declare
        expect(dialog.locator("[data-action=end]")).to_have_count(0)  # nor to end
    finally:
        police.context.close()

    sign_in(page, platform.tokens["property_office"])
    expect(page.locator("#view-title")).to_have_text("物业告警墙")
    expect(page.locator("#absences-open")).to_be_hidden()
    expect(page.locator("#absences")).to_have_count(0)


def test_the_committee_records_a_visit_and_sees_the_months_coverage(
        page: Page, platform: Platform) -> None:
    sign_in(page, platform.tokens["residents_committee"])
    dismiss_popups(page)
    expect(page.locator("#absences-open")).to_have_text("独居老人")
    page.locator("#absences-open").click()
    dialog = page.locator("#absences")
    flagged = platform.get("/api/away/households", "residents_committee")
    rows = dialog.locator(".visit-row")
    expect(rows).to_have_count(len(flagged))
    before = platform.get("/api/visits", "residents_committee")
    row = dialog.locator(f".visit-row[data-household='{ESTATE}|2-1-301']")  # building 2, floor 3
    expect(row).to_have_attribute("data-visited", "0")
    expect(row).to_contain_text("本月未走访")

    row.locator("[data-action=visit]").click()
    expect(dialog.locator("#visit-household")).to_have_value(f"{ESTATE}|2-1-301")
    dialog.locator("#visit-outcome").select_option("needs_help")
    dialog.locator("#visit-note").fill("厨房灯坏了，已报修")
    dialog.locator(".visit-form button[type=submit]").click()

    expect(dialog.locator(".away-message")).to_have_text("已记录走访")
    expect(row).to_have_attribute("data-visited", "1")
    expect(row).to_contain_text("需要帮助")
    expect(row).to_contain_text("厨房灯坏了，已报修")
    after = platform.get("/api/visits", "residents_committee")
    assert after["visited"] == before["visited"] + 1 and after["total"] == len(flagged)
    expect(dialog.locator(".visit-count")).to_have_text(
        f"{after['month']}：{after['visited']}/{after['total']} 户已走访")
    [visited] = [h for h in after["households"] if h["household"] == "2-1-301"]
    assert (visited["last"]["outcome"], visited["last"]["note"]) == ("needs_help",
                                                                      "厨房灯坏了，已报修")
    screenshot(page, "wall-elderly-visits")
