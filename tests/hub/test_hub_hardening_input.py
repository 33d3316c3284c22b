"""Input the platform cannot keep is refused with a reason, never answered 500: lone surrogates
in every string (and key) of every request body, nesting past the limit, non-finite numbers.
Alarms and device states of devices the registry lacks are refused and counted; booleans and
numbers are what JSON says they are. Validation answers have FastAPI's documented form, and every
operation declares the 403 it gives the other kind of token."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_helpers import ESTATE, Api, alarm

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.core.settings import Settings
from gongzhi.hub.json_body import MAX_DEPTH, body_problem
from gongzhi.hub.notify.links import Recipient
from tests.notify.people_support import rosters_with_committee

SURROGATE = "\udc80"
DAY_MS = 86_400_000
Place = tuple[str | int, ...]


@pytest.fixture
def database_url(data_dir: Path) -> str:
    """These tests are about HTTP input, not the store: SQLite is enough."""
    return f"sqlite:///{data_dir / 'platform.db'}"


@pytest.fixture
def settings(settings: Settings, data_dir: Path) -> Settings:
    """Duty rosters, so that a signed link's person may act from the mobile page."""
    return settings.model_copy(update={"rosters": rosters_with_committee(data_dir)})


def _send(api: Api, method: str, path: str, principal: str, body: Any = None,
          raw: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    # json.dumps escapes a lone surrogate as \udc80, as an attacker's client would send it.
    content = raw if raw is not None else json.dumps(body).encode()
    return api.client.request(method, path, content=content,
                              headers={**api.auth(principal), "Content-Type": "application/json",
                                       **(headers or {})})


def _refused(answer: httpx.Response) -> dict[str, Any]:
    """The one validation error of a 422 answer in FastAPI's documented form."""
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and len(detail) >= 1
    assert {"loc", "msg", "type"} <= set(detail[0])
    first: dict[str, Any] = detail[0]
    return first


# --- lone surrogates, in every string of every body ----------------------------------------


def _places(value: Any, place: Place = ()) -> Iterator[tuple[Place, bool]]:
    """Every string in a body: (where, is it a key)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*place, key), True
            yield from _places(child, (*place, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _places(child, (*place, index))
    elif isinstance(value, str):
        yield place, False


def _spoiled(body: Any, place: Place, is_key: bool, bad: str) -> Any:
    spoiled = copy.deepcopy(body)
    parent = spoiled
    for part in place[:-1]:
        parent = parent[part]
    last = place[-1]
    if is_key:
        assert isinstance(last, str)
        parent[last + bad] = parent.pop(last)
    else:
        parent[last] = parent[last] + bad
    return spoiled


Example = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, str]]


def _resident_report(api: Api) -> tuple[str, str, int]:
    """A resident's report, resolved: (its building link, its tracking link, its ticket)."""
    codes = api.get("/api/reports/qr-codes", "property_office", estate=ESTATE).json()["codes"]
    building = codes[0]["url"].rsplit("/r/", 1)[1]
    made = api.client.post("/api/reports", json={"category": "other", "text": "路灯坏了"},
                           headers={"X-Gongzhi-Building": building}).json()
    ticket_id = next(t["id"] for t in api.get("/api/tickets", "residents_committee").json()
                     if t["evidence"].get("report_id") == made["report_id"])
    api.act(ticket_id, "residents_committee", "ack")
    api.act(ticket_id, "residents_committee", "resolve", "修好了")
    return building, made["track_token"], ticket_id


def _bodies(api: Api) -> dict[tuple[str, str], Example]:
    """A valid body for every operation that takes one: (method, path) -> (principal, body[,
    headers])."""
    ticket_id = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["ticket_id"]
    building, track, report_ticket = _resident_report(api)
    now = api.app.state.hub.clock.now_ms()
    link = api.app.state.duty_desk.links.token_for(
        ticket_id, Recipient("property_office", "zhao"), now)
    welfare = api.post_alarm(alarm(AlarmKind.WELFARE_CHECK, "el-301"))["ticket_id"]
    welfare_link = api.app.state.duty_desk.links.token_for(
        welfare, Recipient("residents_committee", "sun"), now)
    return {
        ("POST", "/api/reports"): ("property_office", {
            "category": "fire_exit", "text": "楼道堆了杂物", "phone": "13800000000",
            "photos": []}, {"X-Gongzhi-Building": building}),
        ("POST", "/api/reports/track/rating"): ("property_office", {
            "stars": 5, "comment": "好"}, {"X-Gongzhi-Track": track}),
        ("POST", f"/api/reports/tickets/{report_ticket}/reply"): (
            "residents_committee", {"text": "已安排维修"}),
        ("POST", "/api/alarms"): ("gateway", alarm(
            AlarmKind.TAMPER, "smk-elderly", building="B1",
            evidence={"rule": "test", "detail": {"note": "opened", "parts": ["lid", "base"]}})),
        ("POST", "/api/device-states"): ("gateway", {"devices": [
            {"device_id": "wp-r1", "online": True, "last_seen_ms": 5,
             "values": {"pressure_mpa": 0.31}, "values_ts_ms": 5}]}),
        ("POST", f"/api/tickets/{ticket_id}/actions"): (
            "property_office", {"action": "comment", "note": "on my way"}),
        ("POST", "/api/gateway-status"): ("gateway", {"gateway_id": "gateway",
                                                      "alarms_waiting": 0}),
        ("POST", "/api/alarms/batch"): ("gateway", {"alarms": [alarm(
            AlarmKind.LOW_BATTERY, "smk-b2", evidence={"rule": "battery", "level": "low"})]}),
        ("POST", f"/api/m/{ticket_id}/actions"): (
            "property_office", {"action": "comment", "note": "马上到"}, {"X-Gongzhi-Link": link}),
        ("POST", f"/api/m/{welfare}/away"): (
            "residents_committee", {"ends_at": now + DAY_MS, "note": "邻居说去女儿家了"},
            {"X-Gongzhi-Link": welfare_link}),
        ("POST", "/api/visits"): ("residents_committee", {
            "estate_id": ESTATE, "household": "H301", "outcome": "needs_help",
            "note": "灯坏了，已报修"}),
        ("POST", "/api/away"): ("residents_committee", {
            "estate_id": ESTATE, "household": "H301", "ends_at": now + DAY_MS,
            "note": "去女儿家住几天"}),
        ("POST", "/api/windows"): ("property_office", {
            "target": {"estate": ESTATE, "building": "B1", "riser": "R1",
                       "kinds": ["water_pressure_low"]},
            "reason": "水泵检修", "ends_at": now + 7 * DAY_MS,
            "weekly": {"weekdays": ["mon", "thu"], "from": "09:00", "to": "11:30"}}),
    }


def _document_bodies(api: Api) -> set[tuple[str, str]]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items()
            for method, operation in operations.items() if "requestBody" in operation}


@pytest.mark.parametrize(("bad", "kind", "shown"), [
    (SURROGATE, "string_unicode", "\\udc80"),  # no text: no store or answer can encode it
    ("\x00", "string_nul", "\x00"),  # PostgreSQL's text cannot hold it
])
def test_a_lone_surrogate_or_nul_anywhere_in_any_body_is_refused_with_its_place(
        api: Api, bad: str, kind: str, shown: str):
    declared = _document_bodies(api)
    bodies = {(method, path): example for (method, path), example in _bodies(api).items()
              if (method, re.sub(r"/(tickets|m)/\d+/", r"/\1/{ticket_id}/", path)) in declared}
    assert len(bodies) == len(declared), "an operation with a body has no example here"
    for (method, path), (principal, body, *headers) in bodies.items():
        assert _send(api, method, path, principal, body,
                     headers=headers[0] if headers else None).status_code in (200, 201), path
    kept = api.get("/api/tickets", "property_office").json()
    refused = 0
    for (method, path), (principal, body, *headers) in bodies.items():
        for place, is_key in _places(body):
            answer = _send(api, method, path, principal, _spoiled(body, place, is_key, bad),
                           headers=headers[0] if headers else None)
            error = _refused(answer)
            assert error["type"] == kind, (path, place)
            where = [*place[:-1], f"{place[-1]}{shown}"] if is_key else list(place)
            assert error["loc"] == ["body", *where], (path, place)
            refused += 1
    assert refused >= 25
    # Nothing of a refused request was kept: the tickets are as the valid bodies left them.
    assert api.get("/api/tickets", "property_office").json() == kept


# --- depth and numbers ---------------------------------------------------------------------


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_evidence_nested_past_the_limit_is_refused_and_up_to_it_kept(api: Api):
    # The body is level 1 and its evidence level 2: MAX_DEPTH - 2 more levels fit.
    fits = alarm(AlarmKind.TAMPER, "smk-elderly", evidence=_nested(MAX_DEPTH - 2))
    ticket_id = api.post_alarm(fits)["ticket_id"]
    kept = api.ticket(ticket_id)["evidence"]
    assert json.dumps(kept).count("{") == MAX_DEPTH - 1
    for levels in (MAX_DEPTH - 1, 300, 900, 100_000):
        body = alarm(AlarmKind.TAMPER, "smk-young", evidence=_nested(levels))
        raw = json.dumps(body).encode() if levels < 900 else (
            b'{"alarm_id":"deep","kind":"tamper","device_id":"smk-young","estate_id":"'
            + ESTATE.encode() + b'","ts_ms":1,"evidence":' + b'{"a":' * levels + b"{}"
            + b"}" * levels + b"}")
        error = _refused(_send(api, "POST", "/api/alarms", "gateway", raw=raw))
        assert error["type"] == "json_too_deep", levels
        assert error["msg"] == f"nested deeper than {MAX_DEPTH} levels"
    arrays = b'{"action":"comment","note":' + b"[" * 500 + b"]" * 500 + b"}"
    error = _refused(_send(api, "POST", f"/api/tickets/{ticket_id}/actions", "property_office",
                           raw=arrays))
    assert error["type"] == "json_too_deep"
    assert len(api.get("/api/tickets", "property_office").json()) == 1


@pytest.mark.parametrize(("path", "raw", "kind"), [
    ("/api/alarms", b'{"alarm_id":"n","kind":"tamper","device_id":"smk-young","estate_id":"'
     + ESTATE.encode() + b'","ts_ms":1,"evidence":{"v":NaN}}', "json_invalid"),
    ("/api/alarms", b'{"alarm_id":"n","kind":"tamper","device_id":"smk-young","estate_id":"'
     + ESTATE.encode() + b'","ts_ms":1,"evidence":{"v":[-Infinity]}}', "json_invalid"),
    ("/api/alarms", b'{"alarm_id":"n","kind":"tamper","device_id":"smk-young","estate_id":"'
     + ESTATE.encode() + b'","ts_ms":1,"evidence":{"v":1e400}}', "finite_number"),
    ("/api/device-states", b'{"devices":[{"device_id":"wp-r1","values":{"pressure_mpa":-1e999}}]}',
     "finite_number"),
])
def test_numbers_no_json_answer_could_carry_are_refused(api: Api, path: str, raw: bytes,
                                                        kind: str):
    error = _refused(_send(api, "POST", path, "gateway", raw=raw))
    assert error["type"] == kind
    assert api.get("/api/tickets", "property_office").json() == []


def test_the_body_check_walks_without_recursion_and_leaves_non_json_to_the_app():
    assert body_problem(b"[" * 200_000 + b"]" * 200_000) is not None
    assert body_problem(b"not json") is None  # the application answers 400
    assert body_problem(b'{"a": "\\ud83d\\ude00"}') is None  # a pair of surrogates is text


# --- devices the registry lacks -------------------------------------------------------------


def _metric(api: Api, name: str, **labels: str) -> float:
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                     if labels else "")
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize(("body", "reason", "message"), [
    (alarm(AlarmKind.SMOKE_ALARM, "ghost-1"), "unregistered_device",
     "device 'ghost-1' is not in the registry"),
    (alarm(AlarmKind.FIRE, "ghost-2", state=AlarmState.CLEAR), "unregistered_device",
     "device 'ghost-2' is not in the registry"),
    ({**alarm(AlarmKind.TAMPER, "smk-young"), "estate_id": "elsewhere"}, "estate_mismatch",
     f"device 'smk-young' is in estate '{ESTATE}', not 'elsewhere'"),
    (alarm(AlarmKind.OFFLINE_CLUSTER, f"{ESTATE}:B9", building="B9"), "unregistered_building",
     f"the registry has no device in building 'B9' of estate '{ESTATE}'"),
    (alarm(AlarmKind.OFFLINE_CLUSTER, "B1", building="B1"), "bad_cluster_subject",
     f"an offline_cluster alarm names '<estate_id>:<building>' ({ESTATE}:B1), not 'B1'"),
])
def test_an_alarm_for_what_the_registry_lacks_is_refused_and_counted(
        api: Api, body: dict[str, Any], reason: str, message: str):
    error = _refused(_send(api, "POST", "/api/alarms", "gateway", body))
    assert (error["loc"], error["type"], error["msg"]) == (["body", "device_id"], reason, message)
    assert _metric(api, "gongzhi_alarms_refused_total", reason=reason) == 1
    assert api.get("/api/tickets", "property_office").json() == []
    # Sent again (the gateway never retries a 422, an operator might): counted again.
    assert _send(api, "POST", "/api/alarms", "gateway", body).status_code == 422
    assert _metric(api, "gongzhi_alarms_refused_total", reason=reason) == 2


def test_a_building_offline_cluster_and_a_fire_named_after_its_detector_are_taken(api: Api):
    cluster = api.post_alarm(alarm(AlarmKind.OFFLINE_CLUSTER, f"{ESTATE}:B2", building="B2"))
    fire = api.post_alarm(alarm(AlarmKind.FIRE, "smk-elderly"))
    assert cluster["created"] and fire["created"]
    assert _metric(api, "gongzhi_alarms_refused_total", reason="unregistered_device") == 0


def test_device_states_of_unregistered_devices_are_refused_counted_and_named(api: Api):
    body = {"devices": [
        {"device_id": "ghost-2", "online": True},
        {"device_id": "smk-young", "online": True, "last_seen_ms": 7},
        {"device_id": "ghost-1", "online": False},
        {"device_id": "ghost-1", "online": True},
    ]}
    answer = _send(api, "POST", "/api/device-states", "gateway", body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "refused": 3, "unregistered": ["ghost-1", "ghost-2"]}
    assert _metric(api, "gongzhi_device_states_refused_total",
                   reason="unregistered_device") == 3
    assert api.get("/api/devices/smk-young", "property_office").json()["online"] is True
    assert api.get("/api/devices/ghost-1", "property_office").status_code == 404
    listed = {d["device_id"] for d in api.get("/api/devices", "property_office").json()}
    assert not {"ghost-1", "ghost-2"} & listed


@pytest.mark.parametrize(("field", "value"), [
    ("online", 1), ("online", 0), ("online", "true"), ("online", "yes"),
    ("last_seen_ms", "12"), ("last_seen_ms", 12.5), ("last_seen_ms", True),
    ("values", {"battery_pct": "80"}), ("values", {"battery_pct": False}),
])
def test_device_states_take_json_booleans_and_numbers_only(api: Api, field: str, value: Any):
    body = {"devices": [{"device_id": "smk-young", field: value}]}
    error = _refused(_send(api, "POST", "/api/device-states", "gateway", body))
    assert error["loc"][:4] == ["body", "devices", 0, field]
    assert api.get("/api/devices/smk-young", "property_office").json()["online"] is None


def test_an_integral_number_is_an_integer(api: Api):
    """JSON Schema calls 12.0 an integer; so does the platform."""
    body = {"devices": [{"device_id": "smk-young", "online": False, "last_seen_ms": 12.0}]}
    assert _send(api, "POST", "/api/device-states", "gateway", body).status_code == 200
    assert api.get("/api/devices/smk-young", "property_office").json()["last_seen_ms"] == 12


# --- answers in the documented form ---------------------------------------------------------


def test_trend_series_refusals_are_validation_errors(api: Api):
    window = {"device_id": "wp-r1", "metric": "pressure_mpa", "start_ms": 0,
              "end_ms": 3_600_000}
    assert api.get("/api/trends/series", "property_office", **window).status_code == 200
    metric = _refused(api.get("/api/trends/series", "property_office",
                              **{**window, "metric": "residual_ma"}))
    assert metric["loc"] == ["query", "metric"]
    assert metric["msg"] == "a water_pressure device has no metric 'residual_ma'"
    backwards = _refused(api.get("/api/trends/series", "property_office",
                                 **{**window, "start_ms": 7_200_000}))
    assert backwards["loc"] == ["query", "end_ms"]


@pytest.mark.parametrize("value", [b"null", b"x", b"-1", b"1.5", b"1" * 19,
                                   "\N{SUPERSCRIPT THREE}".encode("latin-1")])
def test_a_last_event_id_that_is_no_event_id_is_a_validation_error(api: Api, value: bytes):
    answer = api.client.get("/api/stream", headers={**api.auth("police_room"),
                                                    "Last-Event-ID": value})
    assert _refused(answer)["loc"] == ["header", "last-event-id"]


def test_a_validation_answer_does_not_echo_the_input(api: Api):
    body = {"action": "comment", "note": "x" * 5000}
    ticket_id = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["ticket_id"]
    answer = _send(api, "POST", f"/api/tickets/{ticket_id}/actions", "property_office", body)
    assert answer.status_code == 422
    assert "x" * 100 not in answer.text and "input" not in answer.json()["detail"][0]


def test_every_operation_declares_the_403_of_the_other_kind_of_token(api: Api):
    paths = api.client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            assert "403" in operation["responses"], (method, path)
            # The gateway's operations refuse a party, every other one the gateway.
            gateway_only = "only the gateway" in operation["responses"]["403"]["description"]
            principal = "police_room" if gateway_only else "gateway"
            answer = api.client.request(method.upper(), path.replace("{ticket_id}", "1")
                                        .replace("{device_id}", "smk-young"),
                                        headers=api.auth(principal), json={})
            assert answer.status_code == 403, (method, path, answer.text)
            checked += 1
    assert checked >= 15


def test_a_body_the_application_never_reads_is_not_checked(api: Api):
    """A GET's body is ignored, so it cannot earn an answer the operation does not declare."""
    answer = api.client.request("GET", "/api/me", content=b'{"a": "\\udc80"}',
                                headers={**api.auth("police_room"),
                                         "Content-Type": "application/json"})
    assert answer.status_code == 200


def test_a_query_parameter_given_twice_is_refused_not_half_read(api: Api):
    api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))
    once = api.client.get("/api/tickets?kind=smoke_alarm", headers=api.auth("property_office"))
    assert len(once.json()) == 1
    twice = api.client.get("/api/tickets?kind=tamper&kind=smoke_alarm&limit=5&limit=6",
                           headers=api.auth("property_office"))
    assert twice.status_code == 422
    assert [(e["loc"], e["msg"]) for e in twice.json()["detail"]] == [
        (["query", "kind"], "given 2 times; this parameter takes one value"),
        (["query", "limit"], "given 2 times; this parameter takes one value")]
    # Parameters an operation does not declare are not its business.
    assert api.client.get("/api/me?x=1&x=2", headers=api.auth("police_room")).status_code == 200
