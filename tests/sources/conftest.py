"""Fixtures for the outside-source tests: a second Mosquitto standing in for a ChirpStack
server's broker, and in-process gateways with a sources file (always stopped)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sources_support import write_source_registry

from gongzhi.gateway.service import GatewayService
from tests.conftest import Broker, started_broker
from tests.gateway.gateway_support import AlarmPeer, Publisher, gateway_settings


@pytest.fixture
def lora_broker(tmp_path: Path) -> Iterator[Broker]:
    """The network server's own broker (not the gateway's)."""
    (tmp_path / "lora").mkdir()
    with started_broker(tmp_path / "lora") as b:
        yield b


@pytest.fixture
def lora_publisher(lora_broker: Broker) -> Iterator[Publisher]:
    pub = Publisher(lora_broker.port, client_id="chirpstack")
    try:
        yield pub
    finally:
        pub.close()


@pytest.fixture
def source_gateway(data_dir: Path, broker: Broker, peer: AlarmPeer
                   ) -> Iterator[Callable[..., GatewayService]]:
    """``source_gateway(sources_yaml)``: an in-process gateway with that sources file, its
    own broker connected and every source up."""
    started: list[GatewayService] = []
    write_source_registry(data_dir / "registry.csv")

    def start(sources_yaml: str, **extra: Any) -> GatewayService:
        path = data_dir / "sources.yaml"
        path.write_text(sources_yaml)
        settings = gateway_settings(data_dir, broker.url, peer.url, sources=path, **extra)
        service = GatewayService(settings)
        started.append(service)
        service.start()
        assert service.wait_connected(10), "gateway did not connect to its broker"
        assert service.sources is not None
        for source_id in service.sources.sources:
            source = service.sources.sources.get(source_id)
            wait = getattr(source, "wait_connected", None)
            if wait is not None:
                assert wait(10), f"source {source_id} did not connect"
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()
