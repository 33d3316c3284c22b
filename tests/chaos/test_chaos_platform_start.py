"""A platform started before its PostgreSQL can be reached (behind a proxy that is closed, then
opened): the real ``gongzhi platform`` process does not die. It logs one ERROR naming the
database (password masked) and the fix, serves its pages, answers 503 on ``/readyz`` and to the
gateway, tells the wall the database is unreachable, and becomes ready by itself once the
database is there, with the alarms the gateway sends again then ticketed."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from gongzhi.core.alarms import Alarm, AlarmKind
from tests.chaos.chaos_proxy import TcpProxy
from tests.conftest import free_port
from tests.e2e.harness import make_system, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@" if userinfo else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))


def test_a_platform_started_without_its_database_waits_for_it(
        tmp_path: Path, postgres_url: str) -> None:
    pg = urlsplit(postgres_url)
    assert pg.password, "the tests' PostgreSQL has a password: the log must not show it"
    proxy = TcpProxy((pg.hostname or "127.0.0.1", pg.port or 5432))
    proxy.start()
    proxy.cut()  # the port is known and refuses connections: a database not up yet
    sysm = make_system(tmp_path, "mqtt://127.0.0.1:1", free_port)
    platform = sysm.add("platform", "platform")
    platform.env["GONGZHI_DATABASE_URL"] = via_proxy(postgres_url, proxy)
    office = {"Authorization": f"Bearer {sysm.tokens['property_office']}"}
    gateway = {"Authorization": f"Bearer {sysm.tokens['gateway']}"}
    alarm = Alarm("start-1", AlarmKind.TAMPER, "smoke-302", "e2e",
                  time.time_ns() // 1_000_000 - 1_000, evidence={"rule": "test"}).to_dict()
    platform.start()
    try:
        with httpx.Client(base_url=sysm.base, timeout=5) as http:
            def answers() -> httpx.Response | None:
                assert platform.alive(), sysm.logs()
                try:
                    return http.get("/readyz")
                except httpx.TransportError:
                    return None

            assert wait_until(answers, 60, "the platform to answer").status_code == 503
            assert http.get("/").status_code == 200  # the wall's page loads
            assert http.get("/healthz").status_code == 503
            operations = http.get("/api/operations", headers=office).json()
            assert [p["kind"] for p in operations["problems"]] == ["database_unreachable"]
            assert http.post("/api/alarms", json=alarm, headers=gateway).status_code == 503
            assert http.post("/api/alarms/batch", json={"alarms": [alarm]},
                             headers=gateway).status_code == 503
            assert http.get("/api/tickets", headers=office).status_code == 503

            proxy.restore()  # the database is there now
            wait_until(lambda: http.get("/readyz").status_code == 200, 90,
                       "the platform to become ready by itself")
            answer = http.post("/api/alarms/batch", json={"alarms": [alarm]}, headers=gateway)
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][0]["result"] == "stored"
            tickets = http.get("/api/tickets", headers=office).json()
            assert [t["device_id"] for t in tickets] == ["smoke-302"]
            wait_until(lambda: not http.get("/api/operations", headers=office
                                            ).json()["problems"] or None, 30,
                       "the wall's banner to clear")
    finally:
        platform.stop()
        proxy.stop()
    log = (tmp_path / "platform.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    [error] = errors
    assert f"postgresql://{pg.username}:***@127.0.0.1:{proxy.port}" in error
    assert "GONGZHI_DATABASE_URL" in error and "Traceback" not in log
    assert pg.password not in log
