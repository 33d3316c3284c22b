"""``gongzhi demo --mixed``: the simulated estate's buildings come in by every route (our MQTT
contract, ChirpStack 4 and 3, CTWing and OneNET pushes, Modbus monitors polled by the gateway),
all of them reach the platform's ``/api/devices``, a smoke alarm in a carrier's building becomes
a ticket, the sources file the demo wrote keeps its secrets in files, and everything stops on
SIGTERM with nothing left behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gongzhi.devices.registry import load_registry
from gongzhi.simulators.protocols.mixed import ROUTES, building_routes
from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until
from tests.e2e.test_demo import Demo, clean_env

BUILDING = ("{{id: {id}, units: 1, floors: 2, households_per_floor: 1, floor_height_m: 2.9, "
            "risers_per_unit: 1}}")
# Six small buildings, one a route (ROUTES, in building order), and the pump room (our own).
ESTATE = "\n".join([
    "estate_id: mixed", "name: One building a route", "utc_offset_h: 8",
    "elderly_alone_share: 0", "pump_room_sensors: 1",
    "report_interval_s: {smoke: 5, electrical: 5, water_pressure: 5}", "buildings:",
    *(f"  - {BUILDING.format(id=f'B0{i}')}" for i in range(1, 7)), ""])
CTWING_SMOKE, ONENET_SMOKE = "mixed-B04-U1-101-SD", "mixed-B05-U1-201-SD"
SCENARIO = f"""name: carriers-smoke
description: A smoke alarm in the CTWing building and one in the OneNET building.
faults:
  - {{at: 20s, kind: smoke_alarm, target: {{device: {CTWING_SMOKE}}}}}
  - {{at: 25s, kind: smoke_alarm, target: {{device: {ONENET_SMOKE}}}}}
"""


@pytest.mark.integration
def test_a_mixed_demo_takes_every_route_to_the_platform(tmp_path: Path, broker: Broker) -> None:
    data = tmp_path / "demo"
    (tmp_path / "estate.yaml").write_text(ESTATE)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    gateway, platform = free_port(), free_port()
    env = {**clean_env(), "GONGZHI_GATEWAY_HTTP_PORT": str(gateway)}
    demo = Demo("--estate", str(tmp_path / "estate.yaml"), "--scenario",
                str(tmp_path / "scenario.yaml"), "--mixed", "--speed", "20", "--data-dir",
                str(data), "--mqtt-url", broker.url, "--http-port", str(platform), env=env)
    try:
        sources = data / "sources" / "sources.yaml"
        wait_until(sources.exists, 60, "the demo's sources file")
        registry = list(load_registry(data / "registry.csv"))
        routes = building_routes(registry)
        assert {b for (_, b) in {(r.estate_id, r.location.building) for r in registry}} \
            == {"B01", "B02", "B03", "B04", "B05", "B06", "PR"}
        assert routes[CTWING_SMOKE] == "ctwing" and routes[ONENET_SMOKE] == "onenet"
        text = sources.read_text()
        for name in ("ctwing", "onenet"):  # the push tokens are in files, never in the YAML
            token = (data / "sources" / f"{name}.token").read_text().strip()
            assert token and token not in text and f"file: {name}.token" in text
            assert (data / "sources" / f"{name}.token").stat().st_mode & 0o077 == 0
        office = json.loads((data / "tokens.json").read_text())["property_office"]

        def api(path: str) -> Any:
            try:
                answer = httpx.get(f"http://127.0.0.1:{platform}{path}", timeout=2,
                                   headers={"Authorization": f"Bearer {office}"})
            except httpx.HTTPError:
                return None
            return answer.json() if answer.status_code == 200 else None

        def route_of(record_id: str) -> str:
            record = next(r for r in registry if r.device_id == record_id)
            ext = record.external_id or ""
            return "modbus" if ext.startswith("modbus:") else \
                routes[record_id] if ext else "native"

        def routes_with_values() -> set[str]:
            devices = api("/api/devices") or []
            return {route_of(d["device_id"]) for d in devices if d["values"]}

        seen: set[str] = set()

        def every_route() -> bool:
            seen.clear()
            seen.update(routes_with_values())
            return seen == set(ROUTES)

        try:
            wait_until(every_route, 90, "readings of every route on the platform")
        except AssertionError as exc:  # which route is missing, and what the demo said
            raise AssertionError(f"{exc}: only {sorted(seen)}\n{demo.output[-3000:]}") from None

        def carrier_smoke() -> set[str]:
            body = api("/api/tickets") or []
            tickets = body["tickets"] if isinstance(body, dict) else body
            return {t["device_id"] for t in tickets if t["kind"] == "smoke_alarm"}

        wait_until(lambda: {CTWING_SMOKE, ONENET_SMOKE} <= carrier_smoke(), 60,
                   "the carriers' smoke alarms as tickets")
        figures = httpx.get(f"http://127.0.0.1:{gateway}/metrics", timeout=5).text
        for source in ("lorawan", "telecom", "mobile", "monitors"):
            accepted = [line for line in figures.splitlines() if line.startswith(
                f'gongzhi_gateway_source_messages_accepted_total{{source="{source}"}}')]
            assert accepted and float(accepted[0].split()[-1]) > 0, source
        # CTWing's online reports (its deviceId alone) find their devices from the first: the
        # registry gives each CTWing device both its IMEI and its deviceId.
        unknown = [line for line in figures.splitlines()
                   if line.startswith("gongzhi_gateway_source_messages_rejected_total")
                   and 'reason="unknown_device"' in line and float(line.split()[-1]) > 0]
        assert unknown == []
        assert demo.stop(signal.SIGTERM) == 0, demo.output[-3000:]
    finally:
        demo.kill_group()
    assert "CTWing push http://127.0.0.1:" in demo.output
    tokens = [(data / "sources" / f"{name}.token").read_text().strip()
              for name in ("ctwing", "onenet")]
    for log in (data / "logs").iterdir():  # CTWing's token travels in the push URL: not logged
        assert not any(token in log.read_text(errors="replace") for token in tokens), log.name
