"""No personal data in the logs: a full scenario through the real processes (`gongzhi platform`
and `gongzhi gateway` at DEBUG, the most they ever write), then every log file they wrote is
searched for the household's phone number, its elderly-alone flag and every token.

The scenario touches every place personal data passes: a smoke alarm from an elderly-alone
household (the routing reads the flag and notifies the residents' committee), its telemetry,
a refused message from the same device, each party reading the ticket and the device (the
phone number is in the answers of those allowed to see it), actions with notes, wrong tokens."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Broker, free_port
from tests.e2e.harness import PARTIES, Device, System, make_system, small_registry, wait_until

pytestmark = pytest.mark.integration

ELDERLY = next(r for r in small_registry() if r.elderly_alone and r.phone)
FLAG_WORDS = re.compile(r"elderly|独居|空巢", re.IGNORECASE)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_scenario(sysm: System, broker: Broker) -> None:
    with Device(broker.port) as dev:
        dev.publish(f"estate/e2e/{ELDERLY.device_id}/telemetry",
                    {"ts": now_ms() - 5_000, "seq": 1,
                     "values": {"smoke_db_m": 0.01, "temp_c": 24.0, "battery_pct": 90}})
        dev.publish(f"estate/e2e/{ELDERLY.device_id}/telemetry",
                    b'{"values": {"smoke_db_m": "not a number"}}')
        dev.publish(f"estate/e2e/{ELDERLY.device_id}/event",
                    {"ts": now_ms() - 1_000, "seq": 2, "event": "smoke_alarm",
                     "detail": {"obscuration_db_m": 0.3}})
    ticket = wait_until(lambda: [t for t in sysm.tickets("residents_committee")
                                 if t["device_id"] == ELDERLY.device_id], 30,
                        "the smoke alarm's ticket")[0]
    for party in PARTIES:
        sysm.api(party, f"/api/tickets/{ticket['id']}")
        sysm.api(party, f"/api/devices/{ELDERLY.device_id}")
        sysm.api(party, "/api/devices")
        sysm.api(party, "/api/me")
    shown = sysm.api("property_office", f"/api/devices/{ELDERLY.device_id}").text
    for action in ("ack", "comment", "dispatch"):
        answer = sysm.api("property_office", f"/api/tickets/{ticket['id']}/actions", "POST",
                          {"action": action, "note": "called the household"})
        assert answer.status_code == 200, answer.text
    sysm.api("npc_liaison", "/api/supervision")
    for token in ("wrong", sysm.tokens["property_office"][:-2] + "xx"):
        assert sysm.api(None, "/api/tickets", token=token).status_code in (401, 429)
    # The platform's answers do carry the data for those allowed to see it (so the search below
    # looks for something that really passed through the processes).
    assert ELDERLY.phone is not None and ELDERLY.phone[-4:] in shown


def test_logs_of_a_full_scenario_hold_no_personal_data(
        tmp_path: Path, broker: Broker, record_property: object) -> None:
    sysm = make_system(tmp_path / "sys", broker.url, free_port)
    for name in ("platform", "gateway"):
        sysm.add(name, name).env["GONGZHI_LOG_LEVEL"] = "DEBUG"
    try:
        sysm.services["platform"].start()
        sysm.wait_healthy(f"{sysm.base}/healthz", timeout=60)
        sysm.services["gateway"].start()
        sysm.wait_subscribed(timeout=60)  # /healthz answers before the gateway subscribes
        run_scenario(sysm, broker)
        # Let the gateway's device-state report (values of the household) reach the platform.
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{sysm.gateway_port}/metrics",
                                     timeout=5).text.count("device_states_sent_total 0") == 0,
                   30, "a device-state report")
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()  # a clean stop: shutdown messages are in the logs too

    logs = sorted(p for p in sysm.root.rglob("*") if p.is_file() and p.suffix == ".log")
    text = {p.name: p.read_text(errors="replace") for p in logs}
    assert {"platform.log", "gateway.log"} <= set(text)
    lines = sum(t.count("\n") for t in text.values())
    # Not vacuous: the processes logged at DEBUG and every request is in the access log.
    assert "DEBUG" in text["gateway.log"] and "POST /api/alarms" in text["platform.log"]
    assert f"/api/tickets/{1}/actions" in text["platform.log"] and lines > 50
    secrets = {"phone": ELDERLY.phone, **{f"token of {k}": v for k, v in sysm.tokens.items()}}
    leaks = [f"{name}: {what}" for name, body in text.items()
             for what, secret in secrets.items() if secret and secret in body]
    leaks += [f"{name}: household flag {m.group(0)!r}" for name, body in text.items()
              for m in FLAG_WORDS.finditer(body)]
    summary = (f"privacy logs: files={len(text)} lines={lines} searched for phone, flag and "
               f"{len(sysm.tokens)} tokens: leaks={len(leaks)}")
    record_property("privacy", summary)  # type: ignore[operator]
    assert not leaks, json.dumps(leaks[:20], ensure_ascii=False)
