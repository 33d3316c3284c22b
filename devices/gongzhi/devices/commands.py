"""``gongzhi devices provision``: MQTT credentials and the broker's ACL from the registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gongzhi.devices.mqtt_access import PER_DEVICE_ACL_COMFORT_LIMIT, AclStyle
from gongzhi.devices.provision import (
    ACL_FILE,
    CREDENTIALS_FILE,
    ENV_FILE,
    PASSWORD_FILE,
    CredentialPlan,
    provision,
)
from gongzhi.devices.registry import load_registry

PROVISION_DESCRIPTION = f"""\
Give every device of the registry its own MQTT user (user name = device id) with a random
password, and write into --out-dir:

  {CREDENTIALS_FILE:<16} device_id,username,password,role,estate_id (mode 0600), for
  {"":<16} installers and the devices' configuration
  {PASSWORD_FILE:<16} Mosquitto password file (PBKDF2-SHA512 hashes), for password_file
  {ACL_FILE:<16} Mosquitto ACL, for acl_file: a device publishes only under
  {"":<16} estate/<estate>/<device>/#; only the gateway user reads estate/#
  {ENV_FILE:<16} <USER>_MQTT_PASSWORD=... of the gateway and extra users (mode 0600)

Running it again keeps existing passwords, adds new devices and drops removed ones; then
reload the broker (SIGHUP) so it reads the new files."""


def add_parsers(subparsers: Any) -> None:
    devices = subparsers.add_parser("devices", help="device administration: MQTT provisioning",
                                    description="Device administration.")
    sub = devices.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "provision",
        help="per-device MQTT credentials, Mosquitto password file and ACL from the registry",
        description=PROVISION_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--registry", type=Path, required=True, metavar="CSV",
                   help="the device registry CSV (device_id,type,estate_id,...)")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR",
                   help="directory for the credentials, password, ACL and env files (created "
                        "if missing; existing credentials there are kept)")
    p.add_argument("--gateway-user", action="append", default=None, metavar="NAME",
                   help="MQTT user of a gateway: reads estate/# and publishes its status "
                        "under gongzhi/gateway/#; repeat it for each gateway replica (the "
                        "broker makes the user name the client id, so replicas cannot share "
                        "one) (default: gateway)")
    p.add_argument("--extra-user", action="append", default=[], metavar="NAME",
                   help="a forwarder user that may publish for every device under estate/# "
                        "and read nothing (a vendor platform, the simulator); repeatable")
    p.add_argument("--acl-style", choices=[s.value for s in AclStyle],
                   default=AclStyle.PER_DEVICE.value,
                   help="per-device: a block per device binding its estate and id (exact; "
                        "Mosquitto parses it slowly beyond ~20,000 devices); pattern: one line "
                        "estate/+/%%u/# for all devices, the gateway checking the estate "
                        "(default: per-device)")
    p.add_argument("--rotate", nargs="*", default=None, metavar="USER",
                   help="give new passwords: to the named users, or to every user when no "
                        "name follows; without it, existing passwords are kept")
    p.set_defaults(func=run_provision)


def run_provision(args: argparse.Namespace) -> int:
    registry = load_registry(args.registry)
    rotate: list[str] = args.rotate or []
    plan = provision(registry, args.out_dir, gateway_users=args.gateway_user or ["gateway"],
                     extra_users=args.extra_user, acl_style=AclStyle(args.acl_style),
                     rotate_all=args.rotate == [], rotate=rotate)
    print(summary(plan, args.out_dir))
    if args.acl_style == AclStyle.PER_DEVICE and len(registry) > PER_DEVICE_ACL_COMFORT_LIMIT:
        print(f"warning: {len(registry)} per-device ACL blocks make Mosquitto take long to "
              "start and to reload (it blocks meanwhile); consider --acl-style pattern",
              file=sys.stderr)
    return 0


def summary(plan: CredentialPlan, out_dir: Path) -> str:
    """Counts and file names only: passwords never go to the terminal or the logs."""
    devices = sum(1 for c in plan.credentials if c.principal.device_id is not None)
    services = len(plan.credentials) - devices
    return (f"provisioned {devices} device(s) and {services} service user(s) in {out_dir}: "
            f"{len(plan.created)} new, {len(plan.rotated)} rotated, {len(plan.kept)} kept, "
            f"{len(plan.revoked)} revoked")
