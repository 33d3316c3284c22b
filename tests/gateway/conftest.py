"""Fixtures for the gateway tests: a registry file and in-process gateways that are always
stopped (the HTTP peer for alarms and the publisher are the root conftest's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_support import AlarmPeer, gateway_settings, write_test_registry

from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.telemetry_store import TelemetryStore


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The pipeline's three on-disk stores, opened in a test's own folder."""
    store = TelemetryStore(tmp_path / "telemetry.db")
    outbox = AlarmOutbox(tmp_path / "outbox.db")
    dead = DeadLetterStore(tmp_path / "dead.db")
    for s in (store, outbox, dead):
        s.open()
    try:
        yield {"store": store, "outbox": outbox, "dead_letters": dead}
    finally:
        for s in (store, outbox, dead):
            s.close()


@pytest.fixture
def registry_file(data_dir: Path) -> Path:
    return write_test_registry(data_dir / "registry.csv")


@pytest.fixture
def start_gateway(data_dir: Path, broker: Any, peer: AlarmPeer, registry_file: Path
                  ) -> Iterator[Callable[..., GatewayService]]:
    """Start an in-process gateway (connected and subscribed) with optional setting overrides."""
    started: list[GatewayService] = []

    def start(**extra: Any) -> GatewayService:
        settings = gateway_settings(data_dir, broker.url, peer.url, **extra)
        service = GatewayService(settings)
        started.append(service)
        service.start()
        assert service.wait_connected(10), "gateway did not connect to the broker"
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()
