"""A gateway killed with SIGKILL in the middle of a stream of CTWing pushes loses nothing it
answered 200 to: the real `gongzhi gateway` and `gongzhi platform` processes, the pushes over
real HTTP from a client that retries what is not answered (as CTWing does), the gateway
started again; every alarm is one ticket and every reading is stored once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import cast

import httpx
import orjson
import pytest

from gongzhi.core.broker import wait_for_port
from gongzhi.devices.registry import write_registry
from gongzhi.simulators.outgoing import Message as SimMessage
from gongzhi.simulators.protocols import Route
from gongzhi.simulators.protocols.carrier import imei
from gongzhi.simulators.protocols.ctwing import CtwingEncoder
from tests.chaos.chaos_support import (
    DevicePublisher,
    Tally,
    chaos_registry,
    counter,
    now_ms,
    planned_stream,
    running,
    settle,
    start_gateway,
    start_platform,
    start_system,
)
from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SIMULATED = ROOT / "deploy" / "sources" / "carriers-simulated.yaml"
ALARMS = 30
TELEMETRY = 900
Reporter = Callable[[str, object], None]


class CarrierPusher:
    """Pushes each body until it is answered 200 (retrying while the gateway is down), in
    order, in a thread; counts what was answered 200 (``alarms``, ``telemetry``)."""

    def __init__(self, url: str, bodies: list[tuple[bytes, bool]], pace_s: float = 0.0) -> None:
        self.url = url
        self.bodies = bodies
        self.pace_s = pace_s  # between pushes answered: a stream still going at a fault
        self.alarms = 0
        self.telemetry = 0
        self.answered = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float = 180.0) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the pushes did not all get through"

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for body, alarm in self.bodies:
                while True:
                    try:
                        if client.post(self.url, content=body).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    self.failures += 1
                    time.sleep(0.05)  # CTWing's retry interval, shortened
                self.answered += 1
                time.sleep(self.pace_s)
                if alarm:
                    self.alarms += 1
                else:
                    self.telemetry += 1


def test_gateway_kill_9_mid_push_stream_loses_nothing_answered(
        tmp_path: Path, broker: Broker, record_property: Reporter) -> None:
    port = free_port()
    sources = tmp_path / "sources.yaml"
    text = SIMULATED.read_text().split("  - id: mobile")[0]  # the CTWing source alone
    sources.write_text(text.replace("0.0.0.0:8091", f"127.0.0.1:{port}"))
    sysm = start_system(tmp_path / "sys", broker.url, start=False,
                        gateway_env={"GONGZHI_SOURCES": str(sources)})
    records = [replace(r, external_id=imei(r.device_id)) for r in chaos_registry()]
    write_registry(sysm.root / "registry.csv", records)
    encoder = CtwingEncoder(records, Route(push_url=f"http://127.0.0.1:{port}/ctwing"))
    bodies: list[tuple[bytes, bool]] = []
    for m in planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000):
        report = encoder.report(SimMessage(0, m.topic, m.payload, 1))
        assert report is not None
        bodies.append((orjson.dumps(report), m.alarm))
    tally = Tally("gateway_kill_9_ctwing_push")
    start_platform(sysm)
    start_gateway(sysm)
    wait_for_port("127.0.0.1", port, 30)
    with running(sysm):
        pusher = CarrierPusher(f"http://127.0.0.1:{port}/ctwing", bodies)
        pusher.start()
        wait_until(lambda: pusher.answered >= len(bodies) // 3, 60, "a third of the pushes")
        sysm.services["gateway"].kill()
        tally.extra["killed_after"] = pusher.answered
        failures = pusher.failures
        wait_until(lambda: pusher.failures > failures + 5, 30, "pushes refused while down")
        start_gateway(sysm)
        pusher.join()
        settle(tally, counter(sysm, tally, cast(DevicePublisher, pusher)), timeout_s=90)
        tally.extra["retries"] = pusher.failures
        tally.report(record_property)
    assert tally.alarms_published == ALARMS and tally.telemetry_published == TELEMETRY
    assert tally.tickets == ALARMS and tally.duplicates == 0, tally.line()
    assert tally.dropped == 0 and tally.stored == TELEMETRY, tally.line()
