"""Fixtures of the security tests: files from `gongzhi devices provision`, certificates from
scripts/make-certs.sh, a real broker on the shipped configuration and clients of it."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security_mqtt import MAKE_CERTS, BrokerFiles, MqttProbe, SecureBroker
from security_setup import REGISTRY, ClientFactory, Provisioned


@pytest.fixture
def acl_style() -> str:
    """Override with ``@pytest.mark.parametrize("acl_style", [...])``."""
    return "per-device"


@pytest.fixture
def provisioned(tmp_path: Path, acl_style: str) -> Provisioned:
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    p = Provisioned(registry, tmp_path / "mqtt", acl_style)
    assert p.run() == 0
    return p


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(MAKE_CERTS), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture
def secure_broker(tmp_path: Path, provisioned: Provisioned, certs: Path) -> Iterator[SecureBroker]:
    files = BrokerFiles(passwd=provisioned.out_dir / "passwd", acl=provisioned.out_dir / "acl",
                        certs=certs, data=tmp_path / "broker-data")
    broker = SecureBroker(tmp_path, files)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()



@pytest.fixture
def client(secure_broker: SecureBroker, provisioned: Provisioned) -> Iterator[ClientFactory]:
    """``client(username, password=<its provisioned one>, listener="plain"|"tls",
    ca_file=<CA to speak TLS with>, client_id=..., **probe options)``: a new probe, not yet
    connected; every probe is closed at the end of the test."""
    made: list[MqttProbe] = []
    numbers = itertools.count()
    passwords = provisioned.passwords

    def make(username: str | None, password: str | None = None, *, listener: str = "plain",
             ca_file: Path | None = None, **options: Any) -> MqttProbe:
        if password is None and username is not None:
            password = passwords[username]
        port = {"plain": secure_broker.plain_port, "tls": secure_broker.tls_port}[listener]
        client_id = options.pop("client_id", f"probe-{next(numbers)}")
        probe = MqttProbe(port, username, password, client_id=client_id, ca_file=ca_file,
                          **options)
        made.append(probe)
        return probe

    try:
        yield make
    finally:
        for probe in made:
            probe.close()
