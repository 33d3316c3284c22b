"""The mobile page in headless Chromium at a phone's size (375×812): a fire acknowledged from
its signed link; an expired link and another ticket's id refused with the reason; a welfare
check's visit that found nobody home declares the absence from its link."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import write_registry
from gongzhi.hub.notify.links import Recipient
from gongzhi.hub.notify.roster import on_duty
from gongzhi.hub.notify.roster_desk import DutyDesk
from gongzhi.hub.tokens import new_tokens, write_tokens
from tests.conftest import free_port
from tests.notify.people_support import rosters_with_committee
from tests.pages.pages_support import (
    PHONE_SIZE,
    SCREENSHOTS,
    Platform,
    estate_registry,
    fill_local_time,
    open_page,
    open_phone,
    sign_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ZHAO = Recipient("property_office", "zhao")
SUN = Recipient("residents_committee", "sun")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform with the duty rosters of the notification tests and a residents' committee."""
    directory = tmp_path_factory.mktemp("mobile")
    tokens = new_tokens()
    write_tokens(directory / "tokens.json", tokens)
    write_registry(directory / "registry.csv", estate_registry())
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'p.db'}",
                        rosters=rosters_with_committee(directory))
    running = Platform(settings, tokens, free_port())
    running.start()
    try:
        yield running
    finally:
        running.close()


def desk(platform: Platform) -> DutyDesk:
    assert platform.app is not None
    found: DutyDesk = platform.app.state.duty_desk
    return found


def test_acknowledge_a_fire_from_its_link(platform: Platform, browser: Browser,
                                         page_errors: list[str]) -> None:
    fire = platform.raise_alarm(AlarmKind.FIRE, "smk-1-1-3")
    link = desk(platform).links.link_for(fire, ZHAO, platform.clock.now_ms())
    page = open_phone(browser, link.replace(desk(platform).links.base_url, platform.url),
                      page_errors)
    try:
        page.wait_for_selector("body[data-state='ready']", timeout=10_000)
        assert page.locator("#m-kind").inner_text() == "火警"
        assert "赵师傅" in page.locator("#m-who").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
        page.screenshot(path=str(SCREENSHOTS / "mobile-ticket.png"))
        page.locator("button[data-action='ack']").click()
        page.wait_for_selector("body[data-status='acknowledged']", timeout=10_000)
        assert "赵师傅（链接）" in page.locator("#m-timeline").inner_text()
        assert page.locator("button[data-action='ack']").count() == 0
        assert page.locator("button[data-action='arrive']").count() == 1
        assert page.locator("#m-away").is_hidden()  # a fire, and not the committee's
    finally:
        page.context.close()
    ticket = platform.get(f"/api/tickets/{fire}", "property_office")
    assert ticket["status"] == "acknowledged"
    ack = next(e for e in ticket["timeline"] if e["action"] == "ack")
    assert ack["actor"] == "property_office" and ack["data"]["person"] == "zhao"
    assert page_errors == []


def test_a_welfare_visit_that_finds_nobody_home_declares_the_absence(
        platform: Platform, browser: Browser, page_errors: list[str]) -> None:
    check = platform.raise_alarm(AlarmKind.WELFARE_CHECK, "el-1-1-4")  # flat 1-1-401
    link = desk(platform).links.link_for(check, SUN, platform.clock.now_ms())
    page = open_phone(browser, link.replace(desk(platform).links.base_url, platform.url),
                      page_errors)
    try:
        page.wait_for_selector("body[data-state='ready']", timeout=10_000)
        expect(page.locator("#m-away")).to_be_visible()
        until = page.evaluate("Date.now() + 2 * 86400000 - (Date.now() % 60000)")
        fill_local_time(page, "#m-away-until", until)
        page.locator("#m-away-note").fill("去女儿家，邻居告知")
        page.locator("#m-away-send").click()
        expect(page.locator("#m-away-declared")).to_contain_text("去女儿家，邻居告知")
        expect(page.locator("#m-away")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
        page.screenshot(path=str(SCREENSHOTS / "mobile-away.png"))
    finally:
        page.context.close()
    [absence] = [a for a in platform.get("/api/away", "residents_committee")
                 if a["household"] == "1-1-401"]
    assert absence["ends_at"] == until and absence["note"] == "去女儿家，邻居告知"
    assert page_errors == []


@pytest.mark.parametrize("case", ["expired", "other_ticket"])
def test_a_link_that_does_not_open_the_ticket(platform: Platform, browser: Browser,
                                             page_errors: list[str], case: str) -> None:
    fire = platform.raise_alarm(AlarmKind.FIRE, "smk-2-1-3")
    other = platform.raise_alarm(AlarmKind.FIRE, "smk-2-2-4")
    signer = desk(platform).links
    now = platform.clock.now_ms()
    issued = now - signer.ttl_ms - 1 if case == "expired" else now
    token = signer.token_for(fire, ZHAO, issued)
    opened = other if case == "other_ticket" else fire
    page = open_phone(browser, f"{platform.url}/m/{opened}#{token}", page_errors)
    try:
        page.wait_for_selector("body[data-state='refused']", timeout=10_000)
        reason = page.locator("#m-refused-reason")
        assert reason.get_attribute("data-reason") == case
        assert reason.inner_text() == ("链接已过期，请使用最新的通知或联系值班室。"
                                       if case == "expired" else "此链接属于另一张工单。")
        assert page.locator("#m-ticket").is_hidden()
        assert page.locator("button[data-action]").count() == 0
    finally:
        page.context.close()
    for ticket_id in (fire, other):
        assert platform.get(f"/api/tickets/{ticket_id}", "property_office")["status"] == "open"
    # The refusal itself is the 403 the page was answered; nothing else went wrong.
    assert [e for e in page_errors if "status of 403" not in e] == []


def test_the_wall_shows_who_is_on_duty(platform: Platform, browser: Browser,
                                       page_errors: list[str]) -> None:
    expected = [p.name for p in on_duty(desk(platform).rosters, "property_office",
                                        platform.clock.now_ms())]
    page = open_page(browser, platform.url + "/", page_errors)
    try:
        sign_in(page, platform.tokens["property_office"])
        page.wait_for_selector("#duty-people", timeout=10_000)
        assert page.locator("#duty-people").inner_text() == "、".join(expected)
        assert page.locator("#duty").is_visible()
        page.locator(".side-panel").screenshot(path=str(SCREENSHOTS / "wall-on-duty.png"))
    finally:
        page.context.close()
    assert page_errors == []


DESCRIBE = """async (entries) => {
  const { describeEntry, unreached } = await import("/static/js/timeline.js");
  const { setLang } = await import("/static/js/i18n.js");
  const said = {};
  for (const lang of ["zh", "en"]) {
    setLang(lang);
    said[lang] = entries.map((entry) => [describeEntry(entry).what, unreached(entry)]);
  }
  setLang("zh");
  return said;
}"""


def _told(action: str, **data: object) -> dict[str, object]:
    """A notification entry as the platform writes it (``to`` names who it was for)."""
    return {"type": "notification", "actor": "system", "action": action, "ts": 1,
            "data": {"to": [{"party": "property_office", "person": "zhao", "name": "赵师傅"}],
                     **data}}


def test_the_timeline_tells_a_failed_message_from_a_sent_one(
        platform: Platform, browser: Browser, page_errors: list[str]) -> None:
    """The wall and the mobile page word a message's outcome from the entry's action: a failed
    delivery reads as failed (and is marked), not as someone told."""
    entries = [
        _told("sent", channel="wecom-office", kind="wecom", result="sent"),
        _told("failed", channel="sms-cn", kind="sms", result="failed", reason="refused by sms"),
        _told("fallback", channel="wecom-office", kind="wecom", result="fallback",
              next_channel="sms"),
        _told("pending", channel="robot", result="retry", next_attempt_at=2),
        _told("notify", outcome="unreachable"),
        _told("notify", outcome="queued"),
    ]
    page = open_page(browser, platform.url + "/", page_errors)
    try:
        said = page.evaluate(DESCRIBE, entries)
    finally:
        page.context.close()
    zh, en = ([what for what, _ in said[lang]] for lang in ("zh", "en"))
    assert zh[:3] == ["已通过企业微信通知 赵师傅", "通知失败：短信未能送达 赵师傅",
                      "企业微信未能送达 赵师傅，改用短信"]
    assert zh[3].startswith("robot暂未送达 赵师傅，") and zh[3].endswith(" 重试")
    assert zh[4:] == ["未能通知 赵师傅（无可用渠道）", "通知 赵师傅"]
    assert en[:3] == ["Told 赵师傅 by WeCom", "Not delivered: SMS could not reach 赵师傅",
                      "WeCom could not reach 赵师傅: trying SMS"]
    assert en[3].startswith("robot has not reached 赵师傅 yet: retrying at ")
    assert [marked for _, marked in said["zh"]] == [False, True, False, False, True, False]
    assert page_errors == []
