"""The services on the deployment broker (deploy/mosquitto/mosquitto.conf, run for real), whose
user name is each client's id: gateway replicas with a user each, on a static partition or a
shared subscription, and the simulator as a forwarder on one connection, lose nothing."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from security_mqtt import SecureBroker
from security_setup import GATEWAY_USERS, Provisioned

from gongzhi.core.cli import main
from gongzhi.core.settings import load_settings
from gongzhi.gateway.service import GatewayService
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.integration

ESTATE = "small"


@pytest.fixture
def registry_small(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    assert main(["estate", "registry", "--estate", ESTATE, "--out", str(path)]) == 0
    return path


def url(broker: SecureBroker, provisioned: Provisioned, user: str) -> str:
    return f"mqtt://{user}:{provisioned.passwords[user]}@127.0.0.1:{broker.plain_port}"


@pytest.fixture
def start_replica(tmp_path: Path, secure_broker: SecureBroker, provisioned: Provisioned,
                  registry_small: Path) -> Iterator[Callable[..., GatewayService]]:
    started: list[GatewayService] = []

    def start(user: str, **extra: Any) -> GatewayService:
        # The platform is not needed here: alarms wait in each replica's outbox.
        settings = load_settings(
            environ={}, data_dir=tmp_path / "gateway-data", registry=registry_small,
            mqtt_url=url(secure_broker, provisioned, user),
            platform_url="http://127.0.0.1:9", gateway_token="tok-gateway-test",
            gateway_http_port=0, **extra)
        service = GatewayService(settings)
        started.append(service)
        service.start()
        assert service.wait_connected(10), f"{user} did not connect"
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()


def simulate(secure_broker: SecureBroker, provisioned: Provisioned, registry: Path,
             capsys: pytest.CaptureFixture[str]) -> int:
    """Three simulated minutes of the small estate as fast as they go; messages published."""
    capsys.readouterr()
    rc = main(["simulate", "--estate", ESTATE, "--scenario", "demo", "--speed", "max",
               "--duration", "3m", "--mode", "multiplexed", "--connections", "1",
               "--mqtt-url", url(secure_broker, provisioned, "simulator"),
               "--registry", str(registry.parent / "simulated.csv"), "--quiet"])
    assert rc == 0
    found = re.search(r"published ([\d,]+) messages", capsys.readouterr().err)
    assert found is not None
    return int(found.group(1).replace(",", ""))


def total(replicas: list[GatewayService], counter: str) -> float:
    return sum(r.metrics.total(counter) for r in replicas)


@pytest.mark.parametrize("layout", ["partition", "shared"])
def test_gateway_replicas_and_the_simulator_on_the_deployment_broker(
        start_replica: Callable[..., GatewayService], secure_broker: SecureBroker,
        provisioned: Provisioned, registry_small: Path,
        capsys: pytest.CaptureFixture[str], layout: str) -> None:
    first, second = GATEWAY_USERS
    if layout == "partition":  # one estate: split it by building
        replicas = [start_replica(first, gateway_partition="0/2/building"),
                    start_replica(second, gateway_partition="1/2/building")]
    else:
        replicas = [start_replica(first, gateway_group="g", gateway_id="a"),
                    start_replica(second, gateway_group="g", gateway_id="b")]

    published = simulate(secure_broker, provisioned, registry_small, capsys)
    assert published > 500

    if layout == "partition":
        # Each replica takes every message and skips the other's share.
        wait_until(lambda: all(r.metrics.total("messages_received_total") == published
                               for r in replicas), 30, "both replicas to receive everything")
        assert all(r.metrics.total("messages_processed_total") > 0 for r in replicas)
    else:
        wait_until(lambda: total(replicas, "messages_received_total") == published, 30,
                   "the replicas to receive everything between them")
        assert all(r.metrics.total("messages_received_total") > 0 for r in replicas)
    # Neither replica was pushed off by the other: one connection each, all along.
    assert [r.metrics.total("mqtt_connects_total") for r in replicas] == [1, 1]


def test_two_gateways_on_one_user_say_so(start_replica: Callable[..., GatewayService],
                                         caplog: pytest.LogCaptureFixture) -> None:
    """A misconfiguration the deployment broker makes costly: two replicas sharing a user take
    each other's session in turn. The gateway says so at ERROR instead of reconnecting quietly."""
    caplog.set_level(logging.WARNING, logger="gongzhi.gateway.mqtt")
    first = start_replica(GATEWAY_USERS[0], gateway_id="a")
    start_replica(GATEWAY_USERS[0], gateway_id="b")
    wait_until(lambda: [r for r in caplog.records if r.levelno == logging.ERROR
                        and "same MQTT user 'gateway'" in r.getMessage()], 30,
               "the gateway to name the shared user")
    assert first.metrics.total("mqtt_connects_total") >= 3
