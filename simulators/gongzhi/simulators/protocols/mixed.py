"""``mixed``: an estate whose buildings come in by different routes, as a real one does.

Buildings, in (estate, building) order, take the routes of ``ROUTES`` in turn: our own MQTT
contract, LoRaWAN through ChirpStack 4, LoRaWAN through ChirpStack 3. Each device's messages
go through its building's encoder, and its ``external_id`` is that route's (none for our own
contract). All of them travel on the one broker (one network server's connection and the
devices' own: multiplexed); deploy/sources/chirpstack-simulated.yaml is the gateway's side.
"""

from __future__ import annotations

from collections.abc import Sequence

from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Message, Outgoing
from gongzhi.simulators.protocols import Encoder, NativeEncoder, Route, load_encoder, routed

ROUTES = ("native", "chirpstack-v4", "chirpstack-v3")


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
        self._encoders: dict[str, Encoder] = {
            name: NativeEncoder() if name == "native" else load_encoder(name, records, seed,
                                                                        route)
            for name in ROUTES}

    def route(self, device_id: str) -> str:
        return self._routes.get(device_id, "native")

    def external_id(self, record: DeviceRecord) -> str | None:
        return self._encoders[self.route(record.device_id)].external_id(record)

    def open(self) -> None:
        for encoder in self._encoders.values():
            encoder.open()

    def close(self) -> None:
        for encoder in self._encoders.values():
            encoder.close()

    def encode(self, items: Sequence[Outgoing]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for item in items:
            if isinstance(item, Message):
                parts = item.topic.split("/")
                device_id = parts[2] if len(parts) > 2 else ""
            elif 0 <= item.device < len(self._records):
                device_id = self._records[item.device].device_id
            else:
                device_id = ""
            out.extend(self._encoders[self.route(device_id)].encode([item]))
        return out


PROTOCOL = routed("mixed", MixedEncoder)
