"""The residents' reports' abuse limits across platform replicas (SQLite and the tests'
PostgreSQL): two apps on one database answer one phone's fourth report of the hour 429
``device_hour`` whichever gets it, a restarted platform still does, and the clock moved past the
hour lets the phone report again. The answers and Retry-After are those of a single process."""

from __future__ import annotations

import httpx
from hub_helpers import ESTATE, Api, ApiFactory

from gongzhi.core.clock import ManualClock
from gongzhi.hub.reports.limits import HOUR_MS
from gongzhi.hub.reports.links import Building
from gongzhi.hub.reports.wiring import build_reports

PHONE = "device-aaaaaaaaaaaaaaaa"


def _post(api: Api, building: str = "B1") -> httpx.Response:
    state = api.app.state
    token = build_reports(state.settings, state.hub, state.duty_desk).links.building_token(
        Building(ESTATE, building))
    answer: httpx.Response = api.client.post(
        "/api/reports", json={"category": "other", "text": "楼道灯坏了", "phone": None,
                              "photos": []},
        headers={"X-Gongzhi-Building": token, "Cookie": f"gz_rdev={PHONE}"})
    return answer


def test_replicas_share_the_quota_a_restart_keeps_it_and_the_hour_frees_it(
        make_api: ApiFactory, clock: ManualClock) -> None:
    one, two = make_api(), make_api()
    for api in (one, two, one):
        answer = _post(api)
        assert answer.status_code == 201, answer.text
        clock.advance(60_000)
    for api in (two, one):
        refused = _post(api)
        assert refused.status_code == 429, refused.text
        assert refused.json()["detail"]["reason"] == "device_hour"
        assert int(refused.headers["Retry-After"]) == (HOUR_MS - 3 * 60_000) // 1000
    assert _post(two, "B2").status_code == 201  # another building: its own allowance
    one.close()
    two.close()
    again = make_api()  # the platform restarted
    assert _post(again).status_code == 429
    clock.advance(HOUR_MS - 3 * 60_000)
    assert _post(again).status_code == 201
