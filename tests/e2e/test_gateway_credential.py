"""A gateway that cannot authenticate is loud, with the real processes: no credential at all is
exit code 2 with the fix; a credential the platform refuses fails ``/readyz``, is logged as one
ERROR (not one per attempt), the alarms wait in the outbox, the wall's operations board says the
gateway is silent, and all of it clears once the right token is in the tokens file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Broker, free_port
from tests.e2e.harness import Device, System, make_system, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def system(tmp_path: Path, broker: Broker) -> Iterator[System]:
    sysm = make_system(tmp_path / "sys", broker.url, free_port)
    try:
        yield sysm
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()


def test_no_credential_at_all_is_exit_2_with_the_fix(system: System) -> None:
    tokens = json.loads((system.root / "tokens.json").read_text())
    del tokens["gateway"]
    (system.root / "tokens.json").write_text(json.dumps(tokens))
    done = subprocess.run([sys.executable, "-m", "gongzhi.core.cli", "gateway"],
                          env=system.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "GONGZHI_GATEWAY_TOKEN" in done.stderr and "tokens.json" in done.stderr
    assert '"gateway" entry' in done.stderr


def readiness(system: System) -> tuple[int, dict[str, Any]]:
    """The gateway's /readyz answer; (0, {}) while it does not listen yet."""
    try:
        answer = httpx.get(f"http://127.0.0.1:{system.gateway_port}/readyz", timeout=2)
    except httpx.TransportError:
        return 0, {}
    return answer.status_code, answer.json()


def test_a_refused_credential_is_not_ready_logged_once_and_shown(system: System,
                                                                  broker: Broker) -> None:
    right = system.tokens["gateway"]
    platform = system.add("platform", "platform")
    platform.start()
    system.wait_healthy(f"{system.base}/healthz")
    # The platform has read its tokens; the gateway's copy of the file now holds a wrong one.
    wrong = dict(system.tokens, gateway="tok-gateway-wrong")
    gateway_tokens = system.root / "gateway-tokens.json"
    gateway_tokens.write_text(json.dumps(wrong))
    gateway = system.add("gateway", "gateway")
    gateway.env["GONGZHI_TOKENS_FILE"] = str(gateway_tokens)
    gateway.start()

    status, body = wait_until(lambda: (r := readiness(system))[1].get("problems") and r, 30,
                              "the refused credential on /readyz")
    assert status == 503
    assert body["mqtt_connected"] is True
    assert "refuses the gateway's credential" in body["problems"][0]
    with Device(broker.port) as dev:
        dev.publish("estate/e2e/smoke-301/event",
                    {"ts": time.time_ns() // 1_000_000, "seq": 1, "event": "smoke_alarm"})
        wait_until(lambda: "gongzhi_gateway_alarms_pending 1" in system.gateway_metrics(), 10,
                   "the alarm waiting in the outbox")
        # Several refused attempts (and reports): still one ERROR line.
        wait_until(lambda: failures(system.gateway_metrics()) >= 3, 20, "three refused deliveries")
    log = gateway.log.read_text()
    assert log.count("ERROR gongzhi.gateway.platform_client") == 1, log
    assert "httpx" not in log  # no INFO line per request
    board = system.api("property_office", "/api/operations").json()
    assert board["gateways"] == []  # a refused gateway cannot report: it is not heard

    gateway_tokens.write_text(json.dumps(dict(wrong, gateway=right)))
    wait_until(lambda: readiness(system)[0] == 200, 30, "ready again with the right token")
    wait_until(lambda: [t for t in system.tickets("property_office")
                        if t["device_id"] == "smoke-301"], 10, "the waiting alarm's ticket")
    log = gateway.log.read_text()
    assert log.count("ERROR gongzhi.gateway.platform_client") == 1
    assert "accepts the gateway's credential again" in log
    board = wait_until(lambda: (b := system.api("property_office", "/api/operations").json())
                       ["gateways"] and b["gateways"][0]["alarms_waiting"] == 0 and b, 10,
                       "the gateway's report with nothing waiting")
    assert board["gateways"][0]["gateway_id"] == "gateway" and board["problems"] == []


def failures(metrics: str) -> int:
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
               if line.startswith("gongzhi_gateway_alarm_send_failures_total"))
