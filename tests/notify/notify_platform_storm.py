"""The storm through the whole platform, for its test and the benchmark: 1,000 alarms in one
simulated minute posted to the alarm API, tickets routed by the shipped duty matrix, the first
notification of each planned by the rosters (the re-notification task, every second) and sent
by the delivery layer (every half second) to the local providers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notify_channels_file import channels_file
from notify_providers import Providers
from people_support import People, at

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import write_registry
from gongzhi.hub.notify.service import NotifyDelivery
from gongzhi.hub.tokens import new_tokens, write_tokens
from tests.hub.hub_helpers import alarm, device

STEP_MS = 500  # the dispatcher's interval; the re-notification task runs every second
ROSTERS = """version: 1
timezone: Asia/Shanghai
renotify: {critical: {every: 30m}, major: {every: 1h}}
parties:
  property_office:
    people:
      - {id: wang, name: 王建国, mobile: "13800000001", channels: [wecom, sms]}
      - {id: zhao, name: 赵师傅, mobile: "13800000002", channels: [feishu, sms]}
    shifts: {all-day: "00:00-24:00"}
    rotation_start: 2025-12-29
    rotation: [{all-day: [wang, zhao]}]
  police_room:
    people:
      - {id: liu, name: 刘警官, mobile: "13900000001", channels: [dingtalk, sms]}
      - {id: chen, name: 陈警官, mobile: "13900000002", channels: [dingtalk, sms]}
    shifts: {all-day: "00:00-24:00"}
    rotation_start: 2025-12-29
    rotation: [{all-day: [liu, chen]}]
"""
FEISHU = """  property_feishu:
    type: feishu
    hook: {{file: secrets/feishu.hook}}
    secret: {{file: secrets/feishu.secret}}
    url: {base}/feishu/open-apis/bot/v2/hook/
"""


def _storm(rng: random.Random) -> tuple[list[Any], list[tuple[int, AlarmKind, str]]]:
    """Devices and 1,000 alarms (time from the start, kind, device): 150 smoke alarms
    (critical), 350 major ones, 500 minor ones, each a ticket of its own."""
    smoke = [device(f"s{i}", DeviceType.SMOKE, building=f"B{i % 10}", room=f"{i}")
             for i in range(300)]
    electric = [device(f"e{i}", DeviceType.ELECTRICAL, building=f"B{i % 10}", room=f"e{i}")
                for i in range(200)]
    water = [device(f"w{i}", DeviceType.WATER_PRESSURE, building=f"B{i % 10}", room="pump",
                    riser=f"R{i}") for i in range(100)]
    plan = ([(AlarmKind.SMOKE_ALARM, d.device_id) for d in smoke[:150]]
            + [(AlarmKind.LOW_BATTERY, d.device_id) for d in smoke]
            + [(AlarmKind.TAMPER, d.device_id) for d in smoke[150:250]]
            + [(AlarmKind.ELECTRICAL_LEAKAGE, d.device_id) for d in electric[:150]]
            + [(AlarmKind.DEVICE_OFFLINE, d.device_id) for d in electric]
            + [(AlarmKind.WATER_PRESSURE_LOW, d.device_id) for d in water])
    timed = sorted((rng.randrange(60_000), kind, device_id) for kind, device_id in plan)
    return [*smoke, *electric, *water], timed


@dataclass
class PlatformStorm:
    critical_latency_ms: dict[int, int]  # ticket -> first message sent, from its opening
    stuck: list[dict[str, Any]]  # jobs neither sent nor handed on
    jobs: list[dict[str, Any]]
    simulated_ms: int


def run_platform_storm(tmp_path: Path, base: str, providers: Providers,
                       seed: int = 5) -> PlatformStorm:
    devices, storm = _storm(random.Random(seed))
    tokens = new_tokens()
    write_tokens(tmp_path / "tokens.json", tokens)
    write_registry(tmp_path / "registry.csv", devices)
    (tmp_path / "rosters.yaml").write_text(ROSTERS, encoding="utf-8")
    channels = channels_file(tmp_path, base)
    (tmp_path / "secrets" / "feishu.hook").write_text("2b4c6d8e-feishu-hook\n")
    (tmp_path / "secrets" / "feishu.secret").write_text("feishu-signing-secret\n")
    text = channels.read_text(encoding="utf-8").replace("  sms:\n", FEISHU.format(base=base)
                                                        + "  sms:\n", 1)
    text = text.replace("{wecom: property_wecom,",
                        "{wecom: property_wecom, feishu: property_feishu,")
    channels.write_text(text.replace("police_room: {sms: sms}",
                                     "police_room: {dingtalk: property_dingtalk, sms: sms}"),
                        encoding="utf-8")
    clock = ManualClock(at(5, 10))
    providers.clock = clock
    start = clock.now_ms()
    people = People(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}",
                             rosters=tmp_path / "rosters.yaml", notify=channels,
                             platform_url="http://hub.test"), clock, tokens)
    try:
        api = people.start()
        notify: NotifyDelivery = api.app.state.notify
        pending = list(storm)
        while clock.now_ms() - start < 120_000:
            now = clock.now_ms()
            due = [a for a in pending if start + a[0] <= now]
            pending = pending[len(due):]
            if due:
                bodies = [alarm(kind, device_id, ts_ms=start + t) for t, kind, device_id in due]
                answer = api.client.post("/api/alarms/batch", json={"alarms": bodies},
                                         headers=api.auth("gateway"))
                assert answer.status_code == 200, answer.text
            if (now - start) % 1_000 == 0:
                api.app.state.renotifier.run_once()
            notify.run_once()
            if not pending and notify.outbox.backlog() == 0 and now - start > 61_000:
                break
            clock.advance(STEP_MS)
        jobs = notify.outbox.jobs()
        tickets = api.get("/api/tickets", "property_office", limit=2000).json()
    finally:
        people.close()
    opened = {t["id"]: t for t in tickets}
    first_sent: dict[int, int] = {}
    for row in jobs:
        if row["state"] == "sent":
            tid = int(row["ticket_id"])
            first_sent[tid] = min(first_sent.get(tid, row["done_at"]), row["done_at"])
    latency = {tid: first_sent.get(tid, 10**15) - t["opened_at"] for tid, t in opened.items()
               if t["severity"] == "critical"}
    stuck = [r for r in jobs if r["state"] not in ("sent", "fallback")]
    return PlatformStorm(latency, stuck, jobs, clock.now_ms() - start)
