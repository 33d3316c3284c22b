"""At-least-once delivery under concurrency: one ticket per alarm id, one active ticket per
(device, kind) counting occurrences; on SQLite and on the real PostgreSQL, through a real
server so requests truly overlap."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hub_helpers import Server, alarm, free_port

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.hub.app import create_app


@pytest.fixture
def server(settings: Settings, clock: ManualClock) -> Iterator[Server]:
    running = Server(create_app(settings, clock, background=False), free_port()).start()
    yield running
    running.stop()


def _deliver(server: Server, token: str, bodies: list[dict[str, object]],
             workers: int) -> list[dict[str, object]]:
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"},
                      limits=httpx.Limits(max_connections=workers)) as client:

        def post(body: dict[str, object]) -> dict[str, object]:
            response = client.post("/api/alarms", json=body)
            assert response.status_code == 200, response.text
            result: dict[str, object] = response.json()
            return result

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(post, bodies))


def test_fifty_concurrent_deliveries_of_one_alarm_make_one_ticket(
        server: Server, tokens: dict[str, str]):
    body = alarm(AlarmKind.SMOKE_ALARM, "smk-young", alarm_id="al-concurrent")
    results = _deliver(server, tokens["gateway"], [body] * 50, workers=50)
    assert len({r["ticket_id"] for r in results}) == 1
    assert sum(1 for r in results if r["created"]) == 1
    assert sum(1 for r in results if r["duplicate"]) == 49
    listed = httpx.get(f"{server.url}/api/tickets",
                       headers={"Authorization": f"Bearer {tokens['property_office']}"}).json()
    assert len(listed) == 1
    assert listed[0]["occurrences"] == 1


def test_a_thousand_occurrences_make_one_ticket(server: Server, tokens: dict[str, str]):
    bodies = [alarm(AlarmKind.ELECTRICAL_LEAKAGE, "el-corr", alarm_id=f"al-leak-{i}",
                    ts_ms=1000 + i) for i in range(1000)]
    results = _deliver(server, tokens["gateway"], bodies, workers=16)
    assert len({r["ticket_id"] for r in results}) == 1
    assert sum(1 for r in results if r["created"]) == 1
    headers = {"Authorization": f"Bearer {tokens['property_office']}"}
    listed = httpx.get(f"{server.url}/api/tickets", headers=headers).json()
    assert [(t["occurrences"], t["first_seen"], t["last_seen"]) for t in listed] == [
        (1000, 1000, 1999)]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'gongzhi_tickets{kind="electrical_leakage",status="open"} 1' in metrics
