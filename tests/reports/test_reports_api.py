"""Residents' reports over real HTTP against a real platform (SQLite): a report becomes a ticket
routed by the duty matrix; photos are kept without metadata and refused by content, not name;
abuse limits answer 429 with the reason; a tracking link opens its report and nothing of any
other; the report's words, photos and phone reach only the parties handling its ticket; a public
reply and the closing note reach the resident, internal notes do not; one rating, after closing."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from gongzhi.hub.reports.links import Building
from tests.pages.pages_support import Platform
from tests.reports.report_support import (
    SECRET_MAKER,
    building_token,
    has_metadata,
    links_of,
    photo_with_gps,
    post_report,
    track,
)

pytestmark = [pytest.mark.integration]


def test_a_blocked_exit_becomes_a_ticket_of_the_property_office_with_the_police_told(
        platform: Platform) -> None:
    token = building_token(platform, "1")
    answer = post_report(platform.http, token, phone="+86 138-0013-8000",
                         photos=(photo_with_gps(),), device="device-aaaaaaaaaaaaaaaa")
    assert answer.status_code == 201, answer.text
    made = answer.json()
    view = track(platform.http, made["track_token"]).json()
    assert view["status"] == "open" and view["party"] == "property_office"
    tickets = [t for t in platform.get("/api/tickets", "property_office")
               if t["evidence"].get("report_id") == made["report_id"]]
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["kind"] == "report_fire_exit" and ticket["assignee"] == "property_office"
    assert ticket["notified"] == ["police_room"]
    assert ticket["location"]["building"] == "1"
    # The resident's words and phone are not in the ticket every party sees.
    assert "消防通道" not in str(ticket) and "8000" not in str(ticket)
    detail = platform.get(f"/api/reports/tickets/{ticket['id']}", "property_office")
    assert detail["phone"] == "8613800138000"  # the holder calls back
    assert detail["text"] == "楼道堆满杂物，消防通道被堵"
    police = platform.get(f"/api/reports/tickets/{ticket['id']}", "police_room")
    assert police["phone"] == "861****8000"
    for party in ("npc_liaison", "owners_committee", "residents_committee"):
        refused = platform.http.get(f"/api/reports/tickets/{ticket['id']}",
                                    headers=platform.auth(party))
        assert refused.status_code in (403, 404), (party, refused.text)
        assert "消防通道" not in refused.text


def test_photos_are_kept_without_metadata_and_shown_to_the_handling_party_only(
        platform: Platform) -> None:
    raw = photo_with_gps(4000, 3000)
    assert has_metadata(raw) and SECRET_MAKER.encode() in raw
    made = post_report(platform.http, building_token(platform, "2"), category="ebike",
                       text="电动车停在楼梯间", photos=(raw, photo_with_gps(fmt="PNG")),
                       device="device-bbbbbbbbbbbbbbbb").json()
    ticket_id = _ticket_of(platform, made["report_id"])
    detail = platform.get(f"/api/reports/tickets/{ticket_id}", "property_office")
    assert len(detail["photos"]) == 2
    for url in detail["photos"]:
        answer = platform.http.get(url, headers=platform.auth("property_office"))
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        assert not has_metadata(answer.content)
        assert SECRET_MAKER.encode() not in answer.content
        with Image.open(io.BytesIO(answer.content)) as kept:
            assert max(kept.size) <= 1600
    # Another party's token, a supervisor's, none: not the photo.
    for headers in (platform.auth("npc_liaison"), {}):
        assert platform.http.get(detail["photos"][0], headers=headers).status_code in (401, 404)


def _ticket_of(platform: Platform, report_id: int) -> int:
    for party in ("property_office", "residents_committee"):
        for ticket in platform.get("/api/tickets", party):
            if ticket["evidence"].get("report_id") == report_id:
                return int(ticket["id"])
    raise AssertionError(f"no ticket for report {report_id}")


@pytest.mark.parametrize(("content", "reason", "status"), [
    (b"%PDF-1.4 not a photo at all", "photo_unreadable", 422),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "photo_unreadable", 422),  # a JPEG's start, no more
    (b"\x00" * (6 * 1024 * 1024 + 1), "photo_too_large", 413),
])
def test_a_photo_is_judged_by_its_content(platform: Platform, content: bytes, reason: str,
                                          status: int) -> None:
    before = len(platform.get("/api/tickets", "property_office"))
    answer = post_report(platform.http, building_token(platform, "3"), photos=(content,),
                         device="device-cccccccccccccccc")
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]["reason"] == reason
    assert len(platform.get("/api/tickets", "property_office")) == before  # nothing opened


def test_a_gif_named_as_anything_is_taken_as_a_photo(platform: Platform) -> None:
    out = io.BytesIO()
    Image.new("P", (64, 64), 3).save(out, format="GIF")
    answer = post_report(platform.http, building_token(platform, "3"), photos=(out.getvalue(),),
                         device="device-dddddddddddddddd", category="facility", text="灯不亮")
    assert answer.status_code == 201, answer.text


def test_abuse_limits_answer_429_with_the_reason_per_device_and_per_address(
        platform: Platform) -> None:
    token = building_token(platform, "4")
    for _ in range(3):
        assert post_report(platform.http, token, category="other",
                           device="device-eeeeeeeeeeeeeeee").status_code == 201
    limited = post_report(platform.http, token, category="other",
                          device="device-eeeeeeeeeeeeeeee")
    assert limited.status_code == 429
    assert limited.json()["detail"]["reason"] == "device_hour"
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    # The same phone may still report for another building; another phone here too.
    assert post_report(platform.http, building_token(platform, "1"), category="other",
                       device="device-eeeeeeeeeeeeeeee").status_code == 201
    for index in range(7):
        device = f"device-{index:016d}"
        assert post_report(platform.http, token, category="other",
                           device=device).status_code == 201
    # Ten from one address for one building within the hour: the address is limited, whatever
    # cookie it sends.
    limited = post_report(platform.http, token, category="other", device="device-new-phone-123")
    assert limited.status_code == 429
    assert limited.json()["detail"]["reason"] == "address_hour"
    metrics = platform.http.get("/metrics").text
    assert 'gongzhi_reports_refused_total{reason="address_hour"} 1.0' in metrics


def test_a_link_opens_its_own_report_and_nothing_of_another(platform: Platform) -> None:
    token = building_token(platform, "2")
    mine = post_report(platform.http, token, text="我家楼上漏水", category="water_leak",
                       phone="13912345678", device="device-ffffffffffffffff").json()
    theirs = post_report(platform.http, token, text="邻居的秘密", category="other",
                         phone="13700001111", device="device-gggggggggggggggg").json()
    view = track(platform.http, mine["track_token"])
    assert view.status_code == 200
    assert view.json()["report"]["text"] == "我家楼上漏水"
    assert "邻居" not in view.text and "1111" not in view.text and "5678" not in view.text
    # A link made from another report's number, with this one's nonce or signature, opens
    # nothing; nor does a link guessed or cut short.
    version, number, nonce, signature = mine["track_token"].split(".")
    _, other, other_nonce, other_signature = theirs["track_token"].split(".")
    for forged in (f"{version}.{other}.{nonce}.{signature}",
                   f"{version}.{number}.{other_nonce}.{signature}",
                   f"{version}.{other}.{nonce}.{other_signature}",
                   f"{version}.{number}.{nonce}", "t1.1.AAAA.BBBB", ""):
        answer = track(platform.http, forged)
        assert answer.status_code == 403, forged
        assert "邻居" not in answer.text and "漏水" not in answer.text
        assert answer.json()["detail"]["reason"] in ("forged", "malformed")


def test_a_building_link_cannot_be_made_without_the_secret(platform: Platform) -> None:
    good = building_token(platform, "1")
    version, _estate, _building, signature = good.split(".")
    other = links_of(platform).building_token(Building("yijing", "2")).split(".")
    forged = ".".join((version, other[1], other[2], signature))
    for token, reason in ((forged, "forged"), ("b1.x.y", "malformed"),
                          (building_token(platform, "99"), "unknown_building")):
        answer = platform.http.get("/api/reports/building", headers={"X-Gongzhi-Building": token})
        assert answer.status_code == 403
        assert answer.json()["detail"]["reason"] == reason
        assert post_report(platform.http, token).status_code == 403


def test_the_reply_and_the_closing_note_reach_the_resident_and_one_rating_is_taken(
        platform: Platform) -> None:
    made = post_report(platform.http, building_token(platform, "3"), category="fire_exit",
                       device="device-hhhhhhhhhhhhhhhh").json()
    ticket_id = _ticket_of(platform, made["report_id"])
    early = platform.http.post("/api/reports/track/rating", json={"stars": 5},
                               headers={"X-Gongzhi-Track": made["track_token"]})
    assert early.status_code == 409 and early.json()["detail"]["reason"] == "not_closed"
    platform.post(f"/api/tickets/{ticket_id}/actions", "property_office",
                  {"action": "comment", "note": "内部：3楼住户屡教不改"})
    platform.post(f"/api/reports/tickets/{ticket_id}/reply", "property_office",
                  {"text": "已安排保安今天下午清理"})
    refused = platform.http.post(f"/api/reports/tickets/{ticket_id}/reply",
                                 json={"text": "监督意见"}, headers=platform.auth("npc_liaison"))
    assert refused.status_code in (403, 404)
    platform.post(f"/api/tickets/{ticket_id}/actions", "property_office", {"action": "ack"})
    platform.post(f"/api/tickets/{ticket_id}/actions", "property_office",
                  {"action": "resolve", "note": "杂物已清走，通道畅通"})
    view = track(platform.http, made["track_token"]).json()
    assert view["status"] == "resolved" and view["can_rate"] is True
    assert [r["text"] for r in view["replies"]] == ["已安排保安今天下午清理",
                                                    "杂物已清走，通道畅通"]
    assert "屡教不改" not in str(view)
    rated = platform.http.post("/api/reports/track/rating", json={"stars": 4, "comment": "快"},
                               headers={"X-Gongzhi-Track": made["track_token"]})
    assert rated.status_code == 200
    assert rated.json()["rating"]["stars"] == 4 and rated.json()["can_rate"] is False
    again = platform.http.post("/api/reports/track/rating", json={"stars": 1},
                               headers={"X-Gongzhi-Track": made["track_token"]})
    assert again.status_code == 409 and again.json()["detail"]["reason"] == "already_rated"
    bad = platform.http.post("/api/reports/track/rating", json={"stars": 6},
                             headers={"X-Gongzhi-Track": made["track_token"]})
    assert bad.status_code == 422
    detail = platform.get(f"/api/reports/tickets/{ticket_id}", "property_office")
    assert detail["rating"] == 4 and detail["rating_comment"] == "快"


def test_bad_input_is_refused_with_the_reason(platform: Platform) -> None:
    token = building_token(platform, "1")
    for body in ({"category": "dragons", "text": "x"}, {"category": "other", "text": "   "},
                 {"category": "other", "text": "x", "phone": "call me"},
                 {"category": "other", "text": "x", "photos": ["a", "b", "c", "d"]},
                 {"category": "other", "text": "x" * 1001}):
        answer = platform.http.post("/api/reports", json=body,
                                    headers={"X-Gongzhi-Building": token})
        assert answer.status_code == 422, body
    not_base64 = platform.http.post("/api/reports", json={
        "category": "other", "text": "x", "photos": ["**not base64**"]},
        headers={"X-Gongzhi-Building": token, "Cookie": "gz_rdev=device-iiiiiiiiiiiiiiii"})
    assert not_base64.status_code == 422
    assert not_base64.json()["detail"]["reason"] == "photo_unreadable"


def test_the_qr_sheet_is_for_the_property_office_and_the_residents_committee(
        platform: Platform) -> None:
    sheet = platform.get("/api/reports/qr-codes", "residents_committee", estate="yijing")
    assert [c["building"] for c in sheet["codes"]] == ["1", "2", "3", "4"]
    first = sheet["codes"][0]
    assert first["svg"].startswith("data:image/svg+xml")
    token = first["url"].rsplit("/r/", 1)[1]
    assert platform.http.get("/api/reports/building",
                             headers={"X-Gongzhi-Building": token}).json()["building"] == "1"
    police = platform.http.get("/api/reports/qr-codes", params={"estate": "yijing"},
                               headers=platform.auth("police_room"))
    assert police.status_code == 403
    none = platform.http.get("/api/reports/qr-codes", params={"estate": "nowhere"},
                             headers=platform.auth("property_office"))
    assert none.status_code == 404


def test_the_supervision_view_counts_reports_per_party_without_their_words(
        platform: Platform) -> None:
    token = building_token(platform, "1")
    made = post_report(platform.http, token, text="秘密内容：某某家", phone="13666667777",
                       device="device-supervision-01").json()
    ticket_id = _ticket_of(platform, made["report_id"])
    platform.post(f"/api/tickets/{ticket_id}/actions", "property_office", {"action": "ack"})
    platform.post(f"/api/tickets/{ticket_id}/actions", "property_office",
                  {"action": "resolve", "note": "已处理"})
    assert platform.http.post("/api/reports/track/rating", json={"stars": 2},
                              headers={"X-Gongzhi-Track": made["track_token"]}).status_code == 200
    answer = platform.http.get("/api/supervision/reports", headers=platform.auth("npc_liaison"))
    assert answer.status_code == 200
    summary = answer.json()
    assert "秘密" not in answer.text and "7777" not in answer.text and "某某" not in answer.text
    office = next(p for p in summary["by_party"] if p["party"] == "property_office")
    assert office["reports"] >= 2 and office["resolved"] >= 1
    assert office["sla_decided"] >= 1 and office["time_to_ack"]["median_s"] is not None
    assert office["ratings"] >= 1 and 1 <= office["rating_mean"] <= 5
    assert sum(office["stars"]) == office["ratings"] and office["stars"][1] >= 1
    assert summary["reports"] == sum(summary["by_category"].values())
    assert {p["party"] for p in summary["by_party"]} <= {"property_office",
                                                          "residents_committee"}


def test_the_monthly_report_downloads_from_the_supervision_view(platform: Platform) -> None:
    month = time.strftime("%Y-%m", time.gmtime(platform.clock.now_ms() / 1000 + 8 * 3600))
    answer = platform.http.get("/api/supervision/monthly-report",
                               params={"estate": "yijing", "month": month},
                               headers=platform.auth("npc_liaison"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    assert "attachment" in answer.headers["content-disposition"]
    for params, status in (({"estate": "nowhere", "month": month}, 404),
                           ({"estate": "yijing", "month": "2026-13"}, 422)):
        assert platform.http.get("/api/supervision/monthly-report", params=params,
                                 headers=platform.auth("npc_liaison")).status_code == status
    assert platform.http.get("/api/supervision/monthly-report",
                             params={"estate": "yijing", "month": month}).status_code == 401
