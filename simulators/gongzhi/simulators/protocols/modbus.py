"""``modbus``: the simulated electrical monitors as Modbus slaves the gateway polls; the other
devices keep our own MQTT contract (an estate whose electrical fire monitors sit on RS-485).

``open`` starts a pymodbus TCP server (``--modbus-listen``; one server per 247 monitors, on
consecutive ports) whose units follow the simulated monitors: each telemetry message of a
monitor is written into its unit's registers as the register map lays them out (the shipped
example map, ``gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml``), an
event turns its alarm point on until the monitor's next reading. A unit answers "device busy"
(a Modbus exception) until its monitor's first reading, as a monitor still starting up. A
monitor's registry ``external_id`` is ``modbus:<host>:<port>/<unit>``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.modbus_map import RegisterMap, load_register_map
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from gongzhi.simulators.outgoing import Link, Message, Outgoing
from gongzhi.simulators.protocols import (
    NativeEncoder,
    Route,
    contract_body,
    contract_topic,
    routed,
)

EXAMPLE_MAP = (Path(__file__).resolve().parents[4] / "gateway" / "gongzhi" / "gateway" /
               "sources" / "maps" / "residual_current_monitor.example.yaml")
UNITS_PER_SERVER = 247


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--modbus-listen must be HOST:PORT, got {listen!r}")
    return host, int(port)


class ModbusEncoder:
    mqtt_mode: str | None = None

    def __init__(self, records: Sequence[DeviceRecord], route: Route,
                 register_map: RegisterMap | None = None, *,
                 only: Collection[str] | None = None) -> None:
        """``only``: the device ids whose monitors are on Modbus (default: every monitor)."""
        self._host, self._port = _host_port(route.modbus_listen)
        self._map = register_map or load_register_map(EXAMPLE_MAP)
        self._records = list(records)
        monitors = [r.device_id for r in self._records if r.type is DeviceType.ELECTRICAL
                    and (only is None or r.device_id in only)]
        # device id -> (server index, unit)
        self._slots = {d: divmod(i, UNITS_PER_SERVER) for i, d in enumerate(monitors)}
        self._slots = {d: (s, u + 1) for d, (s, u) in self._slots.items()}
        self._servers: list[ModbusSlaveServer] = []
        self._native = NativeEncoder()
        self._event_points = {p.event: p.name for p in self._map.points if p.event is not None}

    def external_id(self, record: DeviceRecord) -> str | None:
        slot = self._slots.get(record.device_id)
        if slot is None:
            return record.external_id
        server, unit = slot
        return f"modbus:{self._host}:{self._port + server}/{unit}"

    def open(self) -> None:
        count = max((s for s, _ in self._slots.values()), default=-1) + 1
        for index in range(count):
            units = {u: self._map for s, u in self._slots.values() if s == index}
            # A unit answers once the simulation has given it a reading (busy until then):
            # a poll in between would read a monitor's registers as zeros (0 V, 0 A).
            server = ModbusSlaveServer(self._host, self._port + index, units,
                                       busy_until_set=True)
            server.start()
            self._servers.append(server)

    def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop()

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]:
        out: list[Outgoing] = []
        for item in items:
            if isinstance(item, Link):
                if 0 <= item.device < len(self._records) and \
                        self._records[item.device].device_id in self._slots:
                    continue  # a monitor has no MQTT connection
                out.append(item)
                continue
            parts = contract_topic(item.topic)
            slot = self._slots.get(parts[1]) if parts is not None else None
            if parts is None or slot is None:
                out.append(item)
                continue
            self._write(slot, parts[2], item)
        return self._native.encode(out)

    def _write(self, slot: tuple[int, int], channel: str, message: Message) -> None:
        if not self._servers:
            return
        server, unit = self._servers[slot[0]], slot[1]
        body = contract_body(message.payload)
        if body is None:
            return
        if channel == "telemetry":
            values = body.get("values", body)
            readings = {k: float(v) for k, v in values.items()
                        if k not in ("ts", "seq") and isinstance(v, int | float)}
            # A reading clears the alarm points an event set (the next poll saw them on).
            server.set_reading(unit, readings, dict.fromkeys(self._event_points.values(),
                                                             False))
        elif channel == "event":
            point = self._event_points.get(str(body.get("event")))
            if point is not None:
                server.set_reading(unit, {}, {point: True})


PROTOCOL = routed("modbus", lambda records, seed, route: ModbusEncoder(records, route))
