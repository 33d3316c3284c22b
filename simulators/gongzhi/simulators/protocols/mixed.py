"""``mixed``: an estate whose buildings come in by different routes, as a real one does.

Buildings, in (estate, building) order, take the routes of ``ROUTES`` in turn: our own MQTT
contract, LoRaWAN through ChirpStack 4 and ChirpStack 3 (on the one broker, as the network
server's connection), NB-IoT products through CTWing's and OneNET's HTTP pushes to the
gateway's push ports, and a building whose electrical fire monitors sit on Modbus (a pymodbus
server the gateway polls; the building's other devices speak our contract). Each device's
messages go through its building's encoder, and its ``external_id`` is that route's (none for
our own contract). Only the routes some building takes are opened, so a small estate needs no
push URL. The ``Route`` gives each push route its URL and token (``push_urls``,
``push_tokens``: ``ctwing``, ``onenet``) and the Modbus server's address; ``gongzhi demo
--mixed`` writes the gateway's sources file to match.
"""

from __future__ import annotations

from collections.abc import Sequence

from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Message, Outgoing
from gongzhi.simulators.protocols import Encoder, NativeEncoder, Route, load_encoder, routed
from gongzhi.simulators.protocols.modbus import ModbusEncoder

ROUTES = ("native", "chirpstack-v4", "chirpstack-v3", "ctwing", "onenet", "modbus")


def building_routes(records: Sequence[DeviceRecord]) -> dict[str, str]:
    """Device id -> its building's route."""
    buildings = sorted({(r.estate_id, r.location.building) for r in records})
    route_of = {b: ROUTES[i % len(ROUTES)] for i, b in enumerate(buildings)}
    return {r.device_id: route_of[(r.estate_id, r.location.building)] for r in records}


class MixedEncoder:
    mqtt_mode: str | None = "multiplexed"

    def __init__(self, records: Sequence[DeviceRecord], seed: int, route: Route) -> None:
        self._records = list(records)
        self._routes = building_routes(self._records)
        self._encoders: dict[str, Encoder] = {}
        for name in ROUTES:
            mine = {d for d, r in self._routes.items() if r == name}
            if name == "native" or not mine:
                continue
            if name == "modbus":  # the monitors of the Modbus buildings, no other
                self._encoders[name] = ModbusEncoder(self._records, route, only=mine)
            else:
                self._encoders[name] = load_encoder(name, self._records, seed,
                                                    route.for_protocol(name))
        self._native = NativeEncoder()

    def route(self, device_id: str) -> str:
        return self._routes.get(device_id, "native")

    def _encoder(self, device_id: str) -> Encoder:
        return self._encoders.get(self.route(device_id), self._native)

    def external_id(self, record: DeviceRecord) -> str | None:
        return self._encoder(record.device_id).external_id(record)

    def open(self) -> None:
        opened: list[Encoder] = []
        try:
            for encoder in self._encoders.values():
                encoder.open()
                opened.append(encoder)
        except BaseException:
            for encoder in opened:
                encoder.close()
            raise

    def close(self) -> None:
        for encoder in self._encoders.values():
            encoder.close()

    def encode(self, items: Sequence[Outgoing]) -> list[Outgoing]:
        # Each route's items of the batch go to its encoder together (OneNET batches them in
        # its pushes); a device has one route, so each device's order is kept.
        by_route: dict[str, list[Outgoing]] = {}
        for item in items:
            if isinstance(item, Message):
                parts = item.topic.split("/")
                device_id = parts[2] if len(parts) > 2 else ""
            elif 0 <= item.device < len(self._records):
                device_id = self._records[item.device].device_id
            else:
                device_id = ""
            name = self.route(device_id)
            by_route.setdefault(name if name in self._encoders else "native", []).append(item)
        out: list[Outgoing] = []
        for name, mine in by_route.items():
            out.extend(self._encoders.get(name, self._native).encode(mine))
        return out


PROTOCOL = routed("mixed", MixedEncoder)
