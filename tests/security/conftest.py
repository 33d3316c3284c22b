"""Fixtures of the security tests: a small registry, files from `gongzhi devices provision`,
certificates from scripts/make-certs.sh and a real broker on the shipped configuration."""

from __future__ import annotations

import argparse
import csv
import itertools
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from security_mqtt import MAKE_CERTS, BrokerFiles, MqttProbe, SecureBroker

from gongzhi.devices import commands

REGISTRY = """\
device_id,type,estate_id,building,unit,floor,room,elderly_alone
dev-1,smoke,e1,b1,1,3,301,0
dev-2,water_pressure,e1,b1,1,1,riser,0
dev-3,electrical,e2,b7,2,5,502,1
"""


def run_provision(*argv: str) -> int:
    """`gongzhi devices provision ...` through the command's own parser."""
    parser = argparse.ArgumentParser(prog="gongzhi")
    commands.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["devices", "provision", *argv])
    return int(args.func(args))


def read_credentials(out_dir: Path) -> dict[str, str]:
    with (out_dir / "credentials.csv").open(newline="") as f:
        return {row["username"]: row["password"] for row in csv.DictReader(f)}


@dataclass
class Provisioned:
    registry: Path
    out_dir: Path
    acl_style: str = "per-device"

    @property
    def passwords(self) -> dict[str, str]:
        return read_credentials(self.out_dir)

    def run(self, *extra: str) -> int:
        return run_provision("--registry", str(self.registry), "--out-dir", str(self.out_dir),
                             "--extra-user", "simulator", "--acl-style", self.acl_style, *extra)


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


ClientFactory = Callable[..., MqttProbe]


@pytest.fixture
def client(secure_broker: SecureBroker, provisioned: Provisioned) -> Iterator[ClientFactory]:
    """``client(username, password=<its provisioned one>, listener="plain"|"tls",
    ca_file=<CA to speak TLS with>, **probe options)``: a new probe, not yet connected; every
    probe is closed at the end of the test."""
    made: list[MqttProbe] = []
    numbers = itertools.count()
    passwords = provisioned.passwords

    def make(username: str | None, password: str | None = None, *, listener: str = "plain",
             ca_file: Path | None = None, **options: Any) -> MqttProbe:
        if password is None and username is not None:
            password = passwords[username]
        port = {"plain": secure_broker.plain_port, "tls": secure_broker.tls_port}[listener]
        probe = MqttProbe(port, username, password, client_id=f"probe-{next(numbers)}",
                          ca_file=ca_file, **options)
        made.append(probe)
        return probe

    try:
        yield make
    finally:
        for probe in made:
            probe.close()
