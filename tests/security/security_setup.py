"""What the security tests share: a small registry and `gongzhi devices provision` run through
the command's own parser."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from security_mqtt import MqttProbe

from gongzhi.devices import commands

REGISTRY = """\
device_id,type,estate_id,building,unit,floor,room,elderly_alone
dev-1,smoke,e1,b1,1,3,301,0
dev-2,water_pressure,e1,b1,1,1,riser,0
dev-3,electrical,e2,b7,2,5,502,1
"""
# Two gateway replicas, each with its own user (the broker makes the user name the client id).
GATEWAY_USERS = ("gateway", "gateway-b")
GATEWAY_USER_OPTIONS = [arg for name in GATEWAY_USERS for arg in ("--gateway-user", name)]


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
                             *GATEWAY_USER_OPTIONS, "--extra-user", "simulator",
                             "--acl-style", self.acl_style, *extra)


ClientFactory = Callable[..., MqttProbe]
