"""End to end with the real processes (`gongzhi platform`, `gongzhi gateway` with a sources
file, a private Mosquitto): a smoke alarm pushed by CTWing and one pushed by OneNET, over real
HTTP, each become a ticket routed by the duty matrix; CTWing's retry of the same push makes no
second occurrence."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gongzhi.core.broker import wait_for_port
from tests.conftest import Broker, free_port
from tests.e2e.harness import System, wait_until
from tests.sources.push_fixtures import (
    SMOKE_MAPPING,
    ctwing_data_report,
    onenet_datapoint,
    onenet_push,
    smoke_service_data,
)
from tests.sources.push_system import start_with_sources

pytestmark = pytest.mark.integration

IMEI = "860374051096202"
ONENET_DEV = 5012
TOKEN = "e2e-onenet-token"


@pytest.fixture
def system(tmp_path: Path, broker: Broker) -> Iterator[tuple[System, int, int]]:
    ctwing_port, onenet_port = free_port(), free_port()
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "onenet.token").write_text(TOKEN)
    mapping = json.dumps(SMOKE_MAPPING)
    sysm = start_with_sources(
        tmp_path / "sys", broker.url, {"smoke-301": IMEI, "smoke-302": str(ONENET_DEV)},
        f"sources:\n"
        f"  - id: telecom\n    kind: ctwing\n    options:\n"
        f"      listen: 127.0.0.1:{ctwing_port}\n      mapping: {mapping}\n"
        f"  - id: mobile\n    kind: onenet\n    options:\n"
        f"      listen: 127.0.0.1:{onenet_port}\n      token: {{file: onenet.token}}\n"
        f"      mapping: {mapping}\n")
    wait_for_port("127.0.0.1", ctwing_port, 30)
    wait_for_port("127.0.0.1", onenet_port, 30)
    try:
        yield sysm, ctwing_port, onenet_port
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()


def _tickets(sysm: System, kind: str) -> list[dict[str, Any]]:
    return [t for t in sysm.tickets("property_office") if t["kind"] == kind]


def test_pushed_smoke_alarms_become_tickets(system: tuple[System, int, int]) -> None:
    sysm, ctwing_port, onenet_port = system
    now = time.time_ns() // 1_000_000
    fire = orjson.dumps(ctwing_data_report(IMEI, "acf7baaee65e431eadfb8f5fe50e8b81",
                                           smoke_service_data(2), ts=now - 1000))
    with httpx.Client(timeout=10) as client:
        for _ in range(2):  # CTWing delivers again when it did not see the answer
            assert client.post(f"http://127.0.0.1:{ctwing_port}/ctwing",
                               content=fire).status_code == 200
        body = onenet_push(TOKEN, [onenet_datapoint(ONENET_DEV, "Alarm_Status", 2,
                                                    at=now - 500)], random.Random(5))
        assert client.post(f"http://127.0.0.1:{onenet_port}/onenet",
                           content=body).status_code == 200
    def both() -> list[dict[str, Any]] | None:
        found = _tickets(sysm, "smoke_alarm")
        return found if len(found) == 2 else None

    tickets: list[dict[str, Any]] = wait_until(both, 30, "two smoke_alarm tickets")
    by_device = {t["device_id"]: t for t in tickets}
    assert set(by_device) == {"smoke-301", "smoke-302"}
    # smoke-301 is an elderly-alone household: the residents' committee is told as well.
    assert "residents_committee" in by_device["smoke-301"]["notified"]
    assert by_device["smoke-301"]["severity"] == "critical"
    assert by_device["smoke-301"]["occurrences"] == 1
