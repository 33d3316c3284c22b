"""The page routes without a browser: assets served locally under a strict CSP and nowhere
outside their folder, the estate layout from the registry, trends from the gateway's telemetry
store, and the supervision figures (aggregates only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location
from gongzhi.hub.app import create_app
from gongzhi.hub.routes.layout import build_layout
from gongzhi.hub.routes.pages import STATIC_DIR
from tests.pages.pages_support import ESTATE, Platform, make_platform

MINUTE = 60_000
# 2026-01-01 08:00 in Beijing (UTC+8).
START_MS = 1_767_225_600_000


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, Platform, ManualClock]]:
    clock = ManualClock(START_MS)
    platform = make_platform(tmp_path / "platform", clock)
    app = create_app(platform.settings, clock, background=False)
    with TestClient(app) as client:
        yield client, platform, clock


def auth(platform: Platform, party: str) -> dict[str, str]:
    return platform.auth(party)


def post_alarm(client: TestClient, platform: Platform, kind: AlarmKind, device: str,
               ts_ms: int) -> int:
    body = Alarm(alarm_id=f"al-{device}-{kind.value}-{ts_ms}", kind=kind, device_id=device,
                 estate_id=ESTATE, ts_ms=ts_ms).to_dict()
    response = client.post("/api/alarms", json=body, headers=auth(platform, "gateway"))
    assert response.status_code == 200, response.text
    ticket_id: int = response.json()["ticket_id"]
    return ticket_id


def act(client: TestClient, platform: Platform, ticket_id: int, action: str,
        party: str = "property_office") -> None:
    response = client.post(f"/api/tickets/{ticket_id}/actions", json={"action": action},
                           headers=auth(platform, party))
    assert response.status_code == 200, response.text


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


# --- pages and assets ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/police", "/supervision"])
def test_pages_carry_a_strict_content_security_policy(
        setup: tuple[TestClient, Platform, ManualClock], path: str) -> None:
    client, _, _ = setup
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # Every script is a file: no inline script, no inline handler.
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_assets_are_served_from_their_folder_only(
        setup: tuple[TestClient, Platform, ManualClock]) -> None:
    client, _, _ = setup
    script = client.get("/static/js/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/audio/alarm.wav").headers["content-type"] == "audio/wav"
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/%2e%2e/routes/pages.py").status_code == 404
    assert client.get("/static/..%2f..%2fapp.py").status_code == 404


def test_the_pages_need_nothing_from_the_internet_and_evaluate_no_strings() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in (".html", ".js", ".css", ".svg"):
            continue
        text = path.read_text(encoding="utf-8")
        # A namespace URI names, it does not fetch; anything else remote would.
        remote = re.findall(r"https?://(?!www\.w3\.org/2000/svg)[^\s\"')]+", text)
        assert remote == [], f"{path.name} refers to {remote}"
        if path.suffix == ".js":
            for banned in ("eval(", "new Function", ".innerHTML", "document.write",
                           "setTimeout(\"", "localStorage.setItem(\"gongzhi.token"):
                assert banned not in text, f"{path.name} uses {banned}"


# --- layout -------------------------------------------------------------------------------


def test_layout_is_generated_from_the_registry(
        setup: tuple[TestClient, Platform, ManualClock]) -> None:
    client, platform, _ = setup
    assert client.get("/api/layout").status_code == 401
    layout = client.get("/api/layout", headers=auth(platform, "npc_liaison")).json()
    (estate,) = layout["estates"]
    assert estate["estate_id"] == ESTATE
    assert [b["building"] for b in estate["buildings"]] == ["1", "2", "3", "4"]
    first = estate["buildings"][0]
    assert first["units"] == ["1", "2"]
    assert first["floors"] == ["1", "2", "3", "4", "5", "6"]
    # Two devices a flat, and the riser sensor on the first floor of unit 1.
    places = {(p["unit"], p["floor"]): p["devices"] for p in first["places"]}
    assert places[("1", "1")] == 3 and places[("2", "6")] == 2
    assert "room" not in str(layout)


def test_layout_orders_buildings_and_floors_naturally() -> None:
    def record(device_id: str, building: str, floor: str) -> DeviceRecord:
        return DeviceRecord(device_id, DeviceType.SMOKE, Location("e", building, "1", floor, "x"))

    layout = build_layout([record("a", "10", "2"), record("b", "2", "10"), record("c", "2", "B1"),
                           record("d", "2", "2")])
    buildings = layout["estates"][0]["buildings"]
    assert [b["building"] for b in buildings] == ["2", "10"]
    assert buildings[0]["floors"] == ["2", "10", "B1"]


# --- trends -------------------------------------------------------------------------------


def test_trends_come_from_the_telemetry_store(
        setup: tuple[TestClient, Platform, ManualClock]) -> None:
    client, platform, _ = setup
    office = auth(platform, "property_office")
    pressure = client.get("/api/trends/pressure", headers=office, params={"hours": 24}).json()
    assert pressure["threshold"] == pytest.approx(0.10)
    # Lowest first: building 3's riser sags towards the alarm line.
    assert pressure["series"][0]["device_id"] == "wp-3"
    assert len(pressure["series"]) == 4
    assert all(0 < len(s["points"]) <= 144 for s in pressure["series"])
    assert min(v for _, v in pressure["series"][0]["points"]) < 0.16

    leakage = client.get("/api/trends/leakage", headers=office, params={"top": 3}).json()
    assert leakage["threshold"] == pytest.approx(300.0)
    assert leakage["items"][0]["device_id"] == "el-1-2-3"
    assert len(leakage["items"]) == 3
    assert all(i["location"]["room"] is None for i in leakage["items"])

    window = {"device_id": "el-1-2-3", "metric": "residual_ma",
              "start_ms": START_MS - 20 * MINUTE, "end_ms": START_MS}
    series = client.get("/api/trends/series", headers=office, params=window).json()
    assert len(series["points"]) == 120 and series["points"][-1][1] > 300
    too_long = {**window, "start_ms": START_MS - 25 * 60 * MINUTE}
    assert client.get("/api/trends/series", headers=office, params=too_long).status_code == 422
    wrong_metric = {**window, "metric": "pressure_mpa"}
    assert client.get("/api/trends/series", headers=office,
                      params=wrong_metric).status_code == 422
    unknown = {**window, "device_id": "nope"}
    assert client.get("/api/trends/series", headers=office, params=unknown).status_code == 404
    # Measurements are for the parties whose screens show them.
    owners = auth(platform, "owners_committee")
    assert client.get("/api/trends/pressure", headers=owners).status_code == 403


def test_trends_are_empty_without_a_telemetry_store(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    platform = make_platform(tmp_path / "bare", clock)
    (platform.settings.data_dir / "telemetry.db").unlink()
    app = create_app(platform.settings, clock, background=False)
    with TestClient(app) as client:
        answer = client.get("/api/trends/pressure", headers=auth(platform, "police_room"))
    assert answer.status_code == 200 and answer.json()["series"] == []


def test_trends_read_the_store_of_the_apps_own_settings(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    platform = make_platform(tmp_path / "own", clock)
    app = create_app(platform.settings, clock, background=False)
    with TestClient(app) as client:
        answer = client.get("/api/trends/pressure", headers=auth(platform, "police_room"))
    assert len(answer.json()["series"]) == 4


# --- supervision --------------------------------------------------------------------------


def test_supervision_figures_per_day_party_and_kind(
        setup: tuple[TestClient, Platform, ManualClock]) -> None:
    client, platform, clock = setup
    # Day 1 (Beijing): a leak acknowledged after 4 min and resolved after 30; a tamper nobody
    # acknowledges within its 15 min.
    leak = post_alarm(client, platform, AlarmKind.ELECTRICAL_LEAKAGE, "el-1-1-1", START_MS)
    tamper = post_alarm(client, platform, AlarmKind.TAMPER, "smk-1-1-1", START_MS)
    clock.advance(4 * MINUTE)
    act(client, platform, leak, "ack")
    clock.advance(26 * MINUTE)
    act(client, platform, leak, "resolve")
    assert client.app.state.escalator.run_once()  # type: ignore[attr-defined]
    # Day 2, 00:30 Beijing: a low battery acknowledged after 10 min.
    clock.set(START_MS + 16 * 60 * MINUTE + 30 * MINUTE)
    battery = post_alarm(client, platform, AlarmKind.LOW_BATTERY, "smk-1-1-2", clock.now_ms())
    clock.advance(10 * MINUTE)
    act(client, platform, battery, "ack")

    answer = client.get("/api/supervision", headers=auth(platform, "npc_liaison"),
                        params={"days": 3, "tz_offset_min": 480})
    assert answer.status_code == 200
    summary: dict[str, Any] = answer.json()
    assert [d["day"] for d in summary["by_day"]] == ["2025-12-31", "2026-01-01", "2026-01-02"]
    day1, day2 = summary["by_day"][1], summary["by_day"][2]
    assert (day1["opened"], day1["breached"], day1["sla_compliance"]) == (2, 1, 0.5)
    # One outcome known each way: the leak met its deadlines, the tamper missed one.
    assert (day1["sla_decided"], day1["sla_met"]) == (2, 1)
    assert day1["time_to_ack"] == {"median_s": 240.0, "p90_s": 240.0}
    assert day1["time_to_resolve"] == {"median_s": 1800.0, "p90_s": 1800.0}
    # The battery ticket is acknowledged, not closed, and within its deadlines: no outcome yet.
    assert (day2["opened"], day2["sla_decided"], day2["sla_compliance"]) == (1, 0, None)
    assert day2["time_to_ack"]["median_s"] == 600.0
    assert summary["total"]["opened"] == 3
    assert summary["open_overdue"] == 1 and tamper
    by_party = {g["key"]: g for g in summary["by_party"]}
    assert by_party["police_room"]["breached"] == 1
    assert by_party["property_office"]["opened"] == 2
    assert {g["key"] for g in summary["by_kind"]} == {"electrical_leakage", "tamper",
                                                      "low_battery"}
    # Aggregates only: no field that names a device, a place or a person.
    assert keys_of(summary) <= {
        "start_ms", "end_ms", "days", "tz_offset_min", "total", "by_day", "by_party",
        "by_kind", "open_overdue", "open_escalated", "day", "key", "opened", "acknowledged",
        "resolved", "false_alarms", "breached", "escalated", "sla_decided", "sla_met",
        "sla_compliance", "time_to_ack", "time_to_resolve", "median_s", "p90_s"}
    assert client.get("/api/supervision").status_code == 401
