"""``gongzhi simulate --protocol chirpstack-v3|chirpstack-v4``: the simulated estate published
as ChirpStack publishes it, taken by the gateway's ChirpStack source (the shipped sources file
for simulated devices) into the pipeline; the registry written by the simulator carries each
device's devEUI."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from sources_support import SIMULATED_CHIRPSTACK

from gongzhi.core.cli import main
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import parse_mqtt_url
from gongzhi.devices.registry import load_registry, write_registry
from gongzhi.gateway.service import GatewayService
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.layout import build_layout
from gongzhi.simulators.outgoing import Link, LinkAction, Message
from gongzhi.simulators.protocols import load_encoder
from gongzhi.simulators.protocols.chirpstack import dev_eui
from gongzhi.simulators.protocols.mixed import ROUTES, building_routes
from gongzhi.simulators.runner import RunOptions, run_simulation
from tests.conftest import Broker
from tests.gateway.gateway_support import wait_until

MINUTE = 60_000


@pytest.mark.parametrize("protocol", ["chirpstack-v4", "chirpstack-v3"])
def test_a_simulated_estate_comes_in_through_chirpstack(
        source_gateway: Callable[..., GatewayService], broker: Broker, data_dir: Path,
        tmp_path: Path, protocol: str) -> None:
    layout = build_layout(load_estate_file("small"), 5)
    write_registry(data_dir / "registry.csv", [
        replace(d.record, external_id=dev_eui(d.record.device_id)) for d in layout.devices])
    gw = source_gateway(SIMULATED_CHIRPSTACK.read_text())
    journal: list[Message] = []
    summary = run_simulation(
        RunOptions(estate="small", scenario="quiet", speed=math.inf, duration_ms=3 * MINUTE,
                   seed=5, registry_out=tmp_path / "registry.csv", protocol=protocol,
                   progress=False),
        parse_mqtt_url(broker.url), journal=journal)
    assert summary.flushed and summary.mode == "multiplexed"
    uplinks = [m for m in journal if m.topic.endswith("/event/up")]
    assert uplinks and all(m.topic.startswith("application/") for m in journal)
    written = load_registry(tmp_path / "registry.csv")
    assert {r.external_id for r in written} == {dev_eui(d.record.device_id)
                                                for d in layout.devices}
    assert gw.sources is not None
    metrics = gw.sources.metrics
    wait_until(lambda: metrics.value(metrics.received, "lorawan") == len(journal),
               what="every ChirpStack message taken")
    wait_until(lambda: gw.metrics.total("messages_processed_total") >= len(uplinks),
               what="every uplink stored")
    assert gw.metrics.total("messages_rejected_total") == 0
    assert metrics.value(metrics.accepted, "lorawan") == len(journal)
    first = orjson.loads(uplinks[0].payload)
    assert ("deviceInfo" in first) == (protocol == "chirpstack-v4")
    assert ("objectJSON" in first) == (protocol == "chirpstack-v3")


def test_the_encoder_turns_contract_messages_into_chirpstack_events() -> None:
    layout = build_layout(load_estate_file("small"), 5)
    records = [d.record for d in layout.devices]
    smoke = next(r for r in records if r.type.value == "smoke")
    water = next(r for r in records if r.type.value == "water_pressure")
    encoder = load_encoder("chirpstack-v4", records)
    assert encoder.mqtt_mode == "multiplexed"
    base = f"estate/{smoke.estate_id}/{smoke.device_id}"
    out = encoder.encode([
        Message(0, f"{base}/telemetry", b'{"ts":1767225600000,"seq":7,"values":'
                                        b'{"smoke_db_m":0.05,"temp_c":21.5,"battery_pct":90}}', 1),
        Message(0, f"{base}/event", b'{"ts":1767225600001,"seq":8,"event":"smoke_alarm"}', 1),
        Message(0, f"{base}/status", b"online", 1),
        Message(0, f"{base}/status", b"offline", 1),
        Link(0, LinkAction.DROP),
        Message(1, f"estate/{water.estate_id}/{water.device_id}/telemetry",
                b'{"ts":1767225600000,"seq":1,"values":{"pressure_mpa":0.32}}', 1),
    ])
    assert [m.topic.rsplit("/", 1)[-1] for m in out if isinstance(m, Message)] == [
        "up", "up", "join", "up"]
    up, alarm, _, pressure = (orjson.loads(m.payload) for m in out if isinstance(m, Message))
    assert up["deviceInfo"]["devEui"] == dev_eui(smoke.device_id)
    assert up["deviceInfo"]["deviceProfileName"] == "gongzhi-smoke"
    assert up["fCnt"] == 7 and up["time"].startswith("2026-01-01T00:00:00")
    assert up["object"] == {"smoke_density": 0.05, "temperature": 21.5, "battery": 90}
    assert alarm["object"] == {"alarm_status": 2}
    assert abs(pressure["object"]["pressure"] - 3.2) < 1e-9  # bar
    (v3,) = load_encoder("chirpstack-v3", records).encode([Message(
        0, f"{base}/telemetry", b'{"ts":1767225600000,"seq":7,"values":{"temp_c":21.5}}', 1)])
    assert isinstance(v3, Message)
    body = orjson.loads(v3.payload)
    assert orjson.loads(body["objectJSON"]) == {"temperature": 21.5}
    assert body["devEUI"] != dev_eui(smoke.device_id)  # base64 of the same 8 bytes


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown protocol 'zigbee'"):
        load_encoder("zigbee", [])


def test_a_mixed_estate_comes_in_by_every_route_into_one_gateway(
        source_gateway: Callable[..., GatewayService], broker: Broker, data_dir: Path,
        tmp_path: Path) -> None:
    """``--protocol mixed``: buildings by turns on our contract, ChirpStack 4 and ChirpStack 3;
    the registry of ``gongzhi estate registry --protocol mixed`` is the one the gateway needs."""
    assert main(["estate", "registry", "--estate", "small", "--seed", "5", "--protocol",
                 "mixed", "--out", str(data_dir / "registry.csv")]) == 0
    registry = load_registry(data_dir / "registry.csv")
    routes = building_routes(list(registry))
    buildings = {(r.estate_id, r.location.building) for r in registry}
    assert set(routes.values()) == set(ROUTES[:len(buildings)]) and len(buildings) >= 2
    for record in registry:
        lora = routes[record.device_id] != "native"
        assert (record.external_id == dev_eui(record.device_id)) if lora \
            else record.external_id is None
    gw = source_gateway(SIMULATED_CHIRPSTACK.read_text())
    journal: list[Message] = []
    summary = run_simulation(
        RunOptions(estate="small", scenario="quiet", speed=math.inf, duration_ms=3 * MINUTE,
                   seed=5, protocol="mixed", progress=False),
        parse_mqtt_url(broker.url), journal=journal)
    assert summary.flushed
    lora = [m for m in journal if m.topic.startswith("application/")]
    own = [m for m in journal if m.topic.startswith("estate/")]
    assert lora and own
    assert gw.sources is not None
    metrics = gw.sources.metrics
    wait_until(lambda: metrics.value(metrics.received, "lorawan") == len(lora),
               what="every ChirpStack message taken")
    wait_until(lambda: gw.metrics.total("messages_processed_total") >= len(journal)
               - sum(1 for m in own if m.topic.endswith("/status")), what="all stored")
    assert gw.metrics.total("messages_rejected_total") == 0
    assert {routes[m.topic.split("/")[2]] for m in own} == {"native"}
    assert {routes[d.device_id] for d in registry
            if d.external_id is not None and any(d.external_id in m.topic for m in lora)} \
        == set(ROUTES[1:len(buildings)])
