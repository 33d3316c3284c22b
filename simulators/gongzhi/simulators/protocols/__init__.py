"""How simulated devices reach the gateway: ``gongzhi simulate --protocol NAME``.

The simulation always produces messages of our own contract (``Outgoing``); a protocol encoder
turns them into what a device of that route would send through its network, and names the
outside identity each device has (the registry's ``external_id``).

A protocol is a module of this package defining ``PROTOCOL = Protocol(name, build)``, where
``build(records, seed)`` returns an ``Encoder``; the table below names the module, imported
only when used. ``native`` needs no module: our contract as it is. A protocol that delivers
otherwise than on the broker (an HTTP push, a Modbus server) is built with ``build_routed``,
which is also given the ``Route``: where to deliver (``routed`` makes such a ``Protocol``).

The helpers below read the simulation's messages (our contract) for every encoder: the topic's
parts, a status payload, a JSON body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from typing import Protocol as TypingProtocol

import orjson

from gongzhi.core.errors import ConfigError
from gongzhi.core.plugins import import_named
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Outgoing

PROTOCOL_MODULES: dict[str, str | None] = {
    "native": None,
    "chirpstack-v3": "gongzhi.simulators.protocols.chirpstack",
    "chirpstack-v4": "gongzhi.simulators.protocols.chirpstack",
    "ctwing": "gongzhi.simulators.protocols.ctwing",
    "onenet": "gongzhi.simulators.protocols.onenet",
    "modbus": "gongzhi.simulators.protocols.modbus",
    "mixed": "gongzhi.simulators.protocols.mixed",  # buildings by different routes
}


class Encoder(TypingProtocol):
    """``encode`` maps a batch of the simulation's output to what goes on MQTT (possibly
    nothing, for a protocol that delivers otherwise: HTTP, a Modbus server). ``mqtt_mode``
    forces the publisher's mode (``multiplexed``: one network server's connection) or leaves
    the choice (None). ``open``/``close`` run around the simulation (servers, clients)."""

    mqtt_mode: str | None

    def external_id(self, record: DeviceRecord) -> str | None: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Where a protocol that does not use the broker delivers: the gateway's push URL and the
    push token (CTWing, OneNET), the address its Modbus server listens on. ``push_urls`` and
    ``push_tokens`` name them per protocol, for a route of several (``mixed``)."""

    push_url: str | None = None
    push_token: str | None = None
    modbus_listen: str = "127.0.0.1:5020"
    push_urls: Mapping[str, str] = field(default_factory=dict)
    push_tokens: Mapping[str, str] = field(default_factory=dict)

    def for_protocol(self, name: str) -> Route:
        """The route of protocol ``name``: its own URL and token, else the common ones."""
        return Route(self.push_urls.get(name, self.push_url),
                     self.push_tokens.get(name, self.push_token), self.modbus_listen)


@dataclass(frozen=True)
class Protocol:
    name: str
    build: Callable[[str, Sequence[DeviceRecord], int], Encoder]  # (name, records, seed)
    build_routed: Callable[[str, Sequence[DeviceRecord], int, Route], Encoder] | None = None


def routed(name: str, make: Callable[[Sequence[DeviceRecord], int, Route], Encoder]
           ) -> Protocol:
    """The ``Protocol`` of an encoder that delivers by a ``Route`` (``make(records, seed,
    route)``); built without one, it takes the defaults (enough for its external ids)."""
    return Protocol(name, lambda _name, records, seed: make(records, seed, Route()),
                    lambda _name, records, seed, route: make(records, seed, route))


class NativeEncoder:
    """Our own contract: everything as it is. The base of encoders with nothing to open."""

    mqtt_mode: str | None = None

    def external_id(self, record: DeviceRecord) -> str | None:
        return record.external_id

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]:
        return items


def contract_topic(topic: str) -> tuple[str, str, str] | None:
    """``(estate, device, channel)`` of a topic of our contract; None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "estate":
        return None
    return parts[1], parts[2], parts[3]


def status_online(payload: bytes) -> bool | None:
    """A status payload: True online, False offline, None neither."""
    text = payload.strip().strip(b'"').lower()
    return True if text == b"online" else False if text == b"offline" else None


def contract_body(payload: bytes) -> dict[str, Any] | None:
    """A telemetry or event payload as a JSON object; None when it is not one (a fault)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def protocol_names() -> list[str]:
    return list(PROTOCOL_MODULES)


def load_encoder(name: str, records: Sequence[DeviceRecord], seed: int = 0,
                 route: Route | None = None) -> Encoder:
    """The encoder of protocol ``name`` for these devices (``ConfigError`` when unknown)."""
    if name not in PROTOCOL_MODULES:
        raise ConfigError(f"unknown protocol {name!r} (expected one of "
                          f"{', '.join(protocol_names())})")
    module_name = PROTOCOL_MODULES[name]
    if module_name is None:
        return NativeEncoder()
    module = import_named(module_name, f"protocol {name!r}")
    protocol = getattr(module, "PROTOCOL", None)
    if not isinstance(protocol, Protocol):
        raise ConfigError(f"{module_name} defines no PROTOCOL")
    if protocol.build_routed is not None:
        return protocol.build_routed(name, records, seed, route or Route())
    return protocol.build(name, records, seed)


def with_external_ids(encoder: Encoder, records: Iterable[DeviceRecord]) -> list[DeviceRecord]:
    """The records as the registry must have them for this route (``external_id`` set)."""
    return [replace(r, external_id=encoder.external_id(r)) for r in records]
