"""The system's own health on the platform: gateway reports, what the wall is told, the
database's reachability (``/readyz``, one ERROR per change)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hub_helpers import Api

from gongzhi.core.clock import ManualClock
from gongzhi.hub.operations import SILENT_AFTER_MS, WAITING_AFTER_MS, OperationsBoard


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"gateway_id": "gateway", "alarms_waiting": 0,
                            "oldest_waiting_age_ms": None, "alarms_refused": 0,
                            "worker_alive": True, "worker_stalled_ms": 0,
                            "mqtt_connected": True, "queue_depth": 0, "messages_rejected": 0}
    return body | changes


def kinds(api: Api) -> list[tuple[str, str | None]]:
    answer = api.get("/api/operations", "property_office")
    assert answer.status_code == 200, answer.text
    return [(p["kind"], p.get("gateway_id")) for p in answer.json()["problems"]]


def post_status(api: Api, body: dict[str, Any], principal: str = "gateway") -> int:
    return api.client.post("/api/gateway-status", json=body,
                           headers=api.auth(principal)).status_code


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_what_the_wall_is_told_about_gateways(api: Api, clock: ManualClock) -> None:
    assert kinds(api) == []  # just started: the gateway has time to report
    clock.advance(SILENT_AFTER_MS)
    assert kinds(api) == [("gateway_silent", "gateway")]

    assert post_status(api, report()) == 200
    assert kinds(api) == []

    # An alarm a moment in the outbox is normal; one held for the transmission norm is not.
    assert post_status(api, report(alarms_waiting=3,
                                   oldest_waiting_age_ms=WAITING_AFTER_MS - 1)) == 200
    assert kinds(api) == []
    assert post_status(api, report(alarms_waiting=3,
                                   oldest_waiting_age_ms=WAITING_AFTER_MS)) == 200
    [problem] = api.get("/api/operations", "police_room").json()["problems"]
    assert problem["kind"] == "alarms_waiting" and problem["count"] == 3
    assert problem["since_ms"] == clock.now_ms() - WAITING_AFTER_MS
    assert problem["message"] == "alarms are waiting at the gateway: 3"

    assert post_status(api, report(worker_stalled_ms=WAITING_AFTER_MS, queue_depth=40,
                                   mqtt_connected=False)) == 200
    assert kinds(api) == [("worker_stalled", "gateway"), ("broker_disconnected", "gateway")]

    assert post_status(api, report(gateway_id="gateway-p1")) == 200
    clock.advance(SILENT_AFTER_MS - 1)
    assert post_status(api, report(gateway_id="gateway-p1")) == 200
    clock.advance(1)
    # The first replica fell silent (its last report still shows); the second is heard.
    assert ("gateway_silent", "gateway") in kinds(api)
    assert ("gateway_silent", "gateway-p1") not in kinds(api)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_what_a_gateway_says_it_cannot_do_is_a_banner_from_when_first_heard(
        api: Api, clock: ManualClock) -> None:
    down = "source telecom is down: the push front end ended (exit code 1); starting it again"
    assert post_status(api, report(problems=[down])) == 200
    first_heard = clock.now_ms()
    clock.advance(2000)
    assert post_status(api, report(problems=[down, "the welfare file was set aside"])) == 200
    problems = api.get("/api/operations", "property_office").json()["problems"]
    assert [(p["kind"], p["detail"], p["since_ms"]) for p in problems] == [
        ("gateway_problem", down, first_heard),
        ("gateway_problem", "the welfare file was set aside", clock.now_ms())]
    assert problems[0]["message"] == f"gateway gateway: {down}"
    [gateway] = api.get("/api/operations", "property_office").json()["gateways"]
    assert len(gateway["problems"]) == 2
    assert post_status(api, report()) == 200  # the source is back
    assert kinds(api) == []
    assert post_status(api, report(problems=[down])) == 200
    [again] = api.get("/api/operations", "property_office").json()["problems"]
    assert again["since_ms"] == clock.now_ms()  # a new time it is down


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_gateway_status_is_the_gateways_and_the_board_the_parties(api: Api) -> None:
    assert post_status(api, report(), principal="property_office") == 403
    assert api.get("/api/operations", "gateway").status_code == 403
    assert api.client.get("/api/operations").status_code == 401
    assert post_status(api, report(alarms_waiting=-1)) == 422
    assert post_status(api, report(worker_alive=1)) == 422  # a number is not a boolean
    assert post_status(api, report(gateway_id="x" * 65)) == 422
    assert post_status(api, report(unknown=1)) == 422
    assert post_status(api, report(problems=[""])) == 422
    assert post_status(api, report(problems=["x" * 501])) == 422
    assert post_status(api, report(problems=["down"] * 21)) == 422


def test_database_reachability_logged_once_per_change(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    board = OperationsBoard(clock)
    with caplog.at_level(logging.WARNING, logger="gongzhi.hub.operations"):
        assert board.database_checked(True) is False
        assert board.database_checked(False) is True
        clock.advance(5000)
        assert board.database_checked(False) is False
        assert [p["kind"] for p in board.problems()] == ["database_unreachable"]
        assert board.database_checked(True) is True
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot reach its database" in errors[0].getMessage()
    assert len(caplog.records) == 2 and "again" in caplog.records[1].getMessage()
    assert board.problems() == []
