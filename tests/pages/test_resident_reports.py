"""A resident's report in headless Chromium at a phone's size (375×812), from the building's
page to the rating: a blocked exit reported with a photo, resolved by the property office on the
alarm wall, the reply and the rating on the resident's tracking page. Another report's tracking
link shows nothing of it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.pages.pages_support import (
    ESTATE,
    PHONE_SIZE,
    Platform,
    dismiss_popups,
    open_page,
    open_phone,
    screenshot,
    sign_in,
)
from tests.reports.report_support import (
    SECRET_MAKER,
    building_token,
    has_metadata,
    photo_with_gps,
    post_report,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

@pytest.fixture
def phone(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    page = open_phone(browser, "about:blank", page_errors)
    try:
        yield page
    finally:
        page.context.close()
    # A refused link is answered 403 or 404, which the browser logs; nothing else went wrong.
    print("ERRS", page_errors)
    assert [e for e in page_errors if not e.startswith("Failed to load resource")] == []


def test_a_resident_reports_a_blocked_exit_and_rates_the_property_offices_reply(
        phone: Page, browser: Browser, platform: Platform, tmp_path: Path,
        page_errors: list[str]) -> None:
    picture = tmp_path / "corridor.jpg"
    picture.write_bytes(photo_with_gps())
    phone.goto(f"{platform.url}/r/{building_token(platform, '2')}")
    expect(phone.locator("body")).to_have_attribute("data-state", "ready")
    expect(phone.locator("#r-where")).to_have_text("yijing · 2 栋")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
    phone.locator("[data-category=fire_exit]").click()
    expect(phone.locator("[data-category=fire_exit]")).to_have_attribute("aria-pressed", "true")
    phone.locator("#r-text").fill("3楼楼梯间堆满纸箱，消防通道走不通")
    phone.locator("#r-photos").set_input_files(str(picture))
    expect(phone.locator("#r-photo-list li")).to_have_count(1)
    phone.locator("#r-phone").fill("13800138000")
    screenshot(phone, "resident-report")
    phone.locator("#r-send").click()
    expect(phone.locator("body")).to_have_attribute("data-state", "sent")
    href = phone.locator("#r-track").get_attribute("href")
    assert href is not None and href.startswith("/r/t#t1.")
    track_token = href.split("#", 1)[1]
    # The phone keeps its own reports' links, for the resident to come back to.
    phone.reload()
    expect(phone.locator("#r-mine-list a")).to_have_count(1)
    assert phone.locator("#r-mine-list a").get_attribute("href") == href

    # The ticket: routed by the duty matrix to the property office, its photo without metadata.
    ticket = next(t for t in platform.get("/api/tickets", "property_office")
                  if t["kind"] == "report_fire_exit" and t["location"]["building"] == "2")
    detail = platform.get(f"/api/reports/tickets/{ticket['id']}", "property_office")
    assert detail["text"] == "3楼楼梯间堆满纸箱，消防通道走不通"
    kept = platform.http.get(detail["photos"][0], headers=platform.auth("property_office"))
    assert kept.status_code == 200
    assert not has_metadata(kept.content) and SECRET_MAKER.encode() not in kept.content

    # The property office resolves it on the wall, its note the reply to the resident.
    wall = open_page(browser, f"{platform.url}/", page_errors)
    try:
        sign_in(wall, platform.tokens["property_office"])
        dismiss_popups(wall)
        row = wall.locator(f".q-row[data-ticket-id='{ticket['id']}']")
        row.locator("[data-action=ack]").click()
        expect(row).to_have_attribute("data-status", "acknowledged")
        row.click()
        drawer = wall.locator(f"#drawer[data-ticket-id='{ticket['id']}']")
        expect(drawer.locator(".drawer-kind")).to_have_text("居民反映：消防通道堵塞")
        # The resident's words, phone and photo, for the party handling the ticket.
        report = drawer.locator(".resident-report")
        expect(report.locator(".report-text")).to_have_text("3楼楼梯间堆满纸箱，消防通道走不通")
        expect(report).to_contain_text("13800138000")
        expect(report.locator(".report-photos img")).to_have_count(1)
        assert "null" not in report.inner_text()
        screenshot(wall, "wall-resident-report")
        # A reply to the resident from the drawer, then the closing note.
        report.locator(".report-reply-text").fill("已通知保洁，今天下午清理")
        report.locator(".report-reply button").click()
        expect(report.locator(".report-reply-state")).to_have_text("已答复")
        drawer.locator("textarea.note:not(.report-reply-text)").fill(
            "纸箱已清走，通道已畅通，谢谢您的反映")
        drawer.locator("[data-action=resolve]").click()
        expect(drawer.locator(".drawer-status")).to_have_attribute("data-status", "resolved")
    finally:
        wall.context.close()

    # The resident's tracking page: resolved, the reply, and a rating taken once.
    phone.goto(f"{platform.url}{href}")
    expect(phone.locator("body")).to_have_attribute("data-status", "resolved")
    expect(phone.locator("#t-status")).to_have_text("已解决")
    expect(phone.locator("#t-replies li")).to_have_count(2)
    expect(phone.locator("#t-replies li").nth(0)).to_contain_text("已通知保洁，今天下午清理")
    expect(phone.locator("#t-replies li").nth(1)).to_contain_text("纸箱已清走，通道已畅通")
    expect(phone.locator("#t-steps li[data-step=closed]")).to_have_count(1)
    phone.locator("[data-stars='4']").click()
    phone.locator("#t-comment").fill("处理很及时")
    screenshot(phone, "resident-track")
    phone.locator("#t-send").click()
    expect(phone.locator("#t-rated")).to_contain_text("4 星")
    expect(phone.locator("#t-rate")).to_be_hidden()
    # English on the same page.
    phone.locator("#m-lang").click()
    expect(phone.locator("#t-status")).to_have_text("Resolved")
    assert platform.get(f"/api/reports/tickets/{ticket['id']}", "property_office")["rating"] == 4
    assert track_token not in (platform.http.get("/api/tickets",
                                                 headers=platform.auth("property_office")).text)


def test_another_reports_tracking_link_shows_nothing_of_it(phone: Page,
                                                            platform: Platform) -> None:
    token = building_token(platform, "3")
    mine = post_report(platform.http, token, text="我的反映：走廊灯坏了", category="facility",
                       device="device-page-mine-0001").json()
    theirs = post_report(platform.http, token, text="别人的反映：隔壁违建",
                         category="construction", phone="13711112222",
                         device="device-page-their-001").json()
    version, _, nonce, signature = mine["track_token"].split(".")
    other_id = theirs["track_token"].split(".")[1]
    phone.goto(f"{platform.url}/r/t#{version}.{other_id}.{nonce}.{signature}")
    expect(phone.locator("body")).to_have_attribute("data-state", "refused")
    expect(phone.locator("#t-refused-reason")).to_have_text("此进度链接无效。")
    body = phone.locator("body").inner_text()
    assert "隔壁违建" not in body and "2222" not in body and "走廊灯" not in body
    phone.goto(f"{platform.url}/r/t#{mine['track_token']}")
    phone.reload()  # only the fragment changed: load the page again, as a fresh tap would
    expect(phone.locator("#t-text")).to_have_text("我的反映：走廊灯坏了")
    assert "隔壁违建" not in phone.locator("body").inner_text()


def test_a_forged_building_link_opens_no_form(phone: Page, platform: Platform) -> None:
    good = building_token(platform, "1")
    phone.goto(f"{platform.url}/r/{good[:-4]}AAAA")
    expect(phone.locator("body")).to_have_attribute("data-state", "refused")
    expect(phone.locator("#r-refused-reason")).to_have_text("二维码链接无效。")
    expect(phone.locator("#r-form")).to_be_hidden()


def test_the_supervision_view_shows_reports_and_satisfaction_per_party(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    made = post_report(platform.http, building_token(platform, "4"), category="water_leak",
                       text="楼顶水箱漏水", device="device-page-super-001").json()
    ticket = next(t for t in platform.get("/api/tickets", "property_office")
                  if t["evidence"].get("report_id") == made["report_id"])
    for action in ({"action": "ack"}, {"action": "resolve", "note": "已更换阀门"}):
        platform.post(f"/api/tickets/{ticket['id']}/actions", "property_office", action)
    assert platform.http.post("/api/reports/track/rating", json={"stars": 5},
                              headers={"X-Gongzhi-Track": made["track_token"]}).status_code == 200
    visit = platform.http.post("/api/visits", headers=platform.auth("residents_committee"),
                               json={"estate_id": ESTATE, "household": "1-1-401",
                                     "outcome": "needs_help", "note": "灯坏了"})
    assert visit.status_code == 201, visit.text
    page = open_page(browser, f"{platform.url}/supervision", page_errors)
    try:
        sign_in(page, platform.tokens["npc_liaison"])
        expect(page.locator("body")).to_have_attribute("data-reports-loaded", "1")
        office = page.locator("#sup-reports tr[data-party=property_office]")
        expect(office).to_contain_text("物业管理处")
        expect(office).to_contain_text("星")
        assert "楼顶水箱漏水" not in page.locator("body").inner_text()
        # The committee's visits this month, as counts: no home named, no visit's words.
        [counts] = platform.get("/api/supervision/visits", "npc_liaison")["estates"]
        assert counts["visited"] >= 1 and counts["needs_help"] >= 1
        expect(page.locator("#sup-visits")).to_contain_text(
            f"{ESTATE} 小区 {counts['visited']}/{counts['homes']} 家已走访"
            f"（共 {counts['visits']} 次，需要帮助 {counts['needs_help']} 次）")
        assert "1-1-401" not in page.locator("body").inner_text()
        assert "灯坏了" not in page.locator("body").inner_text()
        screenshot(page, "supervision-reports")
    finally:
        page.context.close()
    assert page_errors == []


def test_a_large_photo_is_made_smaller_on_the_phone_and_kept_without_metadata(
        phone: Page, platform: Platform, tmp_path: Path) -> None:
    noise = np.random.default_rng(11).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = SECRET_MAKER
    picture = tmp_path / "big.jpg"
    Image.fromarray(noise).save(picture, format="JPEG", quality=92, exif=exif.tobytes())
    assert picture.stat().st_size > 7 * 1024 * 1024  # above the platform's bound as it is
    phone.goto(f"{platform.url}/r/{building_token(platform, '1')}")
    expect(phone.locator("body")).to_have_attribute("data-state", "ready")
    phone.locator("[data-category=facility]").click()
    phone.locator("#r-text").fill("二楼楼道灯坏了")
    phone.locator("#r-photos").set_input_files(str(picture))
    expect(phone.locator("#r-photo-list li")).to_have_count(1)
    phone.locator("#r-send").click()
    expect(phone.locator("body")).to_have_attribute("data-state", "sent", timeout=20_000)
    ticket = next(t for t in platform.get("/api/tickets", "property_office")
                  if t["kind"] == "report_facility" and t["location"]["building"] == "1")
    detail = platform.get(f"/api/reports/tickets/{ticket['id']}", "property_office")
    kept = platform.http.get(detail["photos"][0], headers=platform.auth("property_office"))
    assert not has_metadata(kept.content) and SECRET_MAKER.encode() not in kept.content
    with Image.open(io.BytesIO(kept.content)) as image:
        assert max(image.size) == 1600


def test_the_property_office_prints_the_buildings_qr_codes(
        browser: Browser, platform: Platform, page_errors: list[str]) -> None:
    page = open_page(browser, f"{platform.url}/reports/qr?estate=yijing", page_errors)
    try:
        page.locator("#signin-token").fill(platform.tokens["property_office"])
        page.locator("#signin-form button[type=submit]").click()
        expect(page.locator("body")).to_have_attribute("data-loaded", "1")
        cards = page.locator(".qr-card")
        expect(cards).to_have_count(4)
        expect(cards.nth(2)).to_contain_text("3 栋 · 扫码反映问题")
        source = cards.nth(2).locator("img").get_attribute("src")
        assert source is not None and source.startswith("data:image/svg+xml")
        # The code's link opens building 3's report page.
        link = cards.nth(2).locator("img").get_attribute("alt")
        assert link is not None and "/r/b1." in link
        token = link.rsplit("/r/", 1)[1]
        assert platform.http.get("/api/reports/building", headers={
            "X-Gongzhi-Building": token}).json()["building"] == "3"
        screenshot(page, "residents-qr-sheet")
    finally:
        page.context.close()
    assert page_errors == []
