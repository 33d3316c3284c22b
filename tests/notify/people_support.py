"""What the tests of rosters, links, re-notification and windows share: a platform over a real
store (SQLite in the test's directory, or the tests' PostgreSQL) with the rosters of
``rosters.yaml``, apps that can be restarted over the same database, and a local time helper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.notify.links import Recipient
from gongzhi.hub.notify.roster_desk import DutyDesk
from gongzhi.hub.tokens import new_tokens, write_tokens
from tests.hub.hub_helpers import DEVICES, Api, alarm, device

ROSTERS = Path(__file__).with_name("rosters.yaml")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = 60_000
# The pump of riser R3 and a flat next door, beside the hub tests' small estate.
PEOPLE_DEVICES = [
    *DEVICES,
    device("wp-r3", DeviceType.WATER_PRESSURE, building="B3", room="pump", riser="R3"),
    device("smk-b3", DeviceType.SMOKE, building="B3", room="101", household="H3-101"),
]


# The rosters above and a residents' committee on duty all day (welfare checks' links).
COMMITTEE = """
  residents_committee:
    people:
      - {id: sun, name: 孙社工, mobile: "13700000001", channels: [sms]}
    shifts: {all-day: "00:00-24:00"}
    rotation_start: 2025-12-29
    rotation:
      - {all-day: [sun]}
"""


def rosters_with_committee(directory: Path) -> Path:
    """``rosters.yaml`` with the committee of ``COMMITTEE``, written in ``directory``."""
    path = directory / "rosters.yaml"
    path.write_text(ROSTERS.read_text(encoding="utf-8").rstrip("\n") + "\n" + COMMITTEE,
                    encoding="utf-8")
    return path


def at(day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds of a local time in Shanghai in January 2026 (the 5th is a Monday)."""
    return int(datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


class People:
    """Apps (replicas, or the platform restarted) over one database, driven by hand."""

    def __init__(self, settings: Settings, clock: ManualClock, tokens: dict[str, str]) -> None:
        self.settings = settings
        self.clock = clock
        self.tokens = tokens
        self.clients: list[TestClient] = []

    def start(self, *, background: bool = False) -> Api:
        app = create_app(self.settings, self.clock, background=background,
                         escalation_interval_s=0.05)
        client = TestClient(app)
        client.__enter__()
        self.clients.append(client)
        return Api(client, self.tokens, app)

    def close(self) -> None:
        for client in reversed(self.clients):
            client.__exit__(None, None, None)
        self.clients.clear()


def desk(api: Api) -> DutyDesk:
    found: DutyDesk = api.app.state.duty_desk
    return found


def link_token(api: Api, ticket_id: int, person: str, party: str = "property_office") -> str:
    return desk(api).links.token_for(ticket_id, Recipient(party, person), api.app.state
                                     .hub.clock.now_ms())


def raise_alarm(api: Api, kind: AlarmKind, device_id: str, ts_ms: int) -> int:
    result = api.post_alarm(alarm(kind, device_id, ts_ms=ts_ms))
    ticket_id: int = result["ticket_id"]
    return ticket_id


def timeline(api: Api, ticket_id: int, entry_type: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.ticket(ticket_id)["timeline"]
    return [e for e in entries if entry_type is None or e["type"] == entry_type]


@pytest.fixture
def people(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[People]:
    """SQLite by default; a test module may parametrize ``database`` with "postgres"."""
    kind = getattr(request, "param", "sqlite")
    url = (f"sqlite:///{tmp_path / 'platform.db'}" if kind == "sqlite"
           else request.getfixturevalue("postgres_url"))
    tokens = new_tokens()
    write_tokens(tmp_path / "tokens.json", tokens)
    write_registry(tmp_path / "registry.csv", PEOPLE_DEVICES)
    settings = Settings(data_dir=tmp_path, database_url=url, rosters=ROSTERS,
                        platform_url="http://hub.test")
    running = People(settings, ManualClock(at(5, 10)), tokens)
    try:
        yield running
    finally:
        running.close()
