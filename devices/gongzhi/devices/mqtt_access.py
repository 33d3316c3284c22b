"""Who may use the broker and for what: the MQTT users of a deployment and their ACL lines.

Least privilege (docs/security.md):

- a device publishes only under ``estate/<its estate>/<its id>/#`` and reads nothing;
- the gateway reads every estate (directly or through an MQTT 5 shared subscription) and
  publishes only its own status under ``gongzhi/gateway/#``;
- a forwarder (a vendor platform or the simulator multiplexing many devices over a few
  connections) publishes under ``estate/#`` and reads nothing.

Mosquitto's ACL file grants nothing that is not listed, so each user gets exactly these lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from gongzhi.core.config_kit import ID_PATTERN, ID_RULE
from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Registry

GATEWAY_STATUS_TOPIC = "gongzhi/gateway/#"


class Role(StrEnum):
    DEVICE = "device"
    GATEWAY = "gateway"
    FORWARDER = "forwarder"


@dataclass(frozen=True, slots=True)
class MqttPrincipal:
    """One broker user. ``estate_id`` and ``device_id`` are set for devices only."""

    username: str
    role: Role
    estate_id: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class AclRule:
    access: str  # read | write
    topic: str


def device_topic(estate_id: str, device_id: str) -> str:
    return f"estate/{estate_id}/{device_id}/#"


def rules_for(principal: MqttPrincipal) -> tuple[AclRule, ...]:
    if principal.role is Role.DEVICE:
        assert principal.estate_id is not None and principal.device_id is not None
        return (AclRule("write", device_topic(principal.estate_id, principal.device_id)),)
    if principal.role is Role.GATEWAY:
        return (AclRule("read", "estate/#"),
                # Brokers that check SUBSCRIBE against the ACL see the shared form.
                AclRule("read", "$share/+/estate/#"),
                AclRule("write", GATEWAY_STATUS_TOPIC))
    return (AclRule("write", "estate/#"),)


def principals_for(registry: Registry, gateway_users: Sequence[str],
                   extra_users: Sequence[str] = ()) -> list[MqttPrincipal]:
    """The gateways, the forwarders, then one user per registry device (username = device id).
    The deployment broker makes the user name the client id, so every gateway replica has a
    user of its own. A name used twice would merge two users' rights: it is a configuration
    error."""
    if not gateway_users:
        raise ConfigError("at least one gateway user is needed")
    principals = [MqttPrincipal(name, Role.GATEWAY) for name in gateway_users]
    principals += [MqttPrincipal(name, Role.FORWARDER) for name in extra_users]
    principals += [MqttPrincipal(r.device_id, Role.DEVICE, r.estate_id, r.device_id)
                   for r in registry]
    seen: set[str] = set()
    for p in principals:
        if not ID_PATTERN.fullmatch(p.username):
            raise ConfigError(f"MQTT user name {p.username!r} must be {ID_RULE}")
        if p.username in seen:
            raise ConfigError(f"MQTT user name {p.username!r} is used twice (a device id equal "
                              "to a gateway or an extra user?)")
        seen.add(p.username)
    return principals


class AclStyle(StrEnum):
    """How device rights are written. ``per-device``: a ``user`` block per device binding its
    estate too. ``pattern``: one ``pattern write estate/+/%u/#`` line for every device; the
    estate is then checked by the gateway (the registry's estate, else a dead letter). Mosquitto
    2.0 parses per-device blocks in time quadratic in their number (measured: 10,000 devices
    0.5 s, 30,000 4 s, 100,000 over 3 minutes, at every start and reload), so large fleets want
    the pattern."""

    PER_DEVICE = "per-device"
    PATTERN = "pattern"


# Above this many per-device blocks, start and reload of the broker take seconds.
PER_DEVICE_ACL_COMFORT_LIMIT = 20_000
DEVICE_PATTERN = AclRule("write", "estate/+/%u/#")

ROLE_HEADINGS = {
    Role.GATEWAY: "# The gateway: reads every estate, publishes its own status.",
    Role.FORWARDER: "# Forwarders: publish for any device, read nothing.",
    Role.DEVICE: "# Devices: each publishes only under estate/<its estate>/<its id>/#.",
}


def render_acl(principals: Iterable[MqttPrincipal],
               style: AclStyle = AclStyle.PER_DEVICE) -> str:
    lines = [
        "# Mosquitto ACL written by `gongzhi devices provision`: re-run it rather than editing.",
        "# Nothing is granted unless listed; there are no lines for anonymous clients.",
        "# Mosquitto 2.0 checks read access when it delivers each message, so a subscription",
        "# outside a user's read lines is accepted but never receives anything.",
    ]
    role: Role | None = None
    for p in principals:
        if style is AclStyle.PATTERN and p.role is Role.DEVICE:
            continue
        lines.append("")
        if p.role is not role:
            role = p.role
            lines.extend([ROLE_HEADINGS[role], ""])
        lines.append(f"user {p.username}")
        lines.extend(f"topic {rule.access} {rule.topic}" for rule in rules_for(p))
    if style is AclStyle.PATTERN:
        lines += [
            "",
            "# Devices: each publishes only under estate/<any estate>/<its id>/# (%u is the user",
            "# name, which is the device id); the gateway refuses an estate that is not the",
            "# device's own. The pattern applies to every user; no device may be named like",
            "# the gateway or a forwarder, so they gain nothing from it.",
            f"pattern {DEVICE_PATTERN.access} {DEVICE_PATTERN.topic}",
        ]
    return "\n".join(lines) + "\n"
