"""Devices going away: cleanly (an ``offline`` status, then DISCONNECT), through the last will
(the connection drops; the broker publishes ``offline``), and a building's power cut (every
mains-powered device at once; battery smoke detectors stay)."""

from __future__ import annotations

from gongzhi.core.alarms import AlarmKind
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import ALL_ROLES, ELECTRICAL_ROLES, Fault, Sim
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.outgoing import Link, LinkAction, Outgoing

_MINUTE = 60_000
MAINS_ROLES = (*ELECTRICAL_ROLES, Role.RISER, Role.ROOF_TANK)


class DeviceOffline(Fault):
    kind = "device_offline"
    summary = "a device says offline and disconnects cleanly, then comes back"
    roles = ALL_ROLES
    duration_ms = 10 * _MINUTE
    ticket = AlarmKind.DEVICE_OFFLINE

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        for g in self.devices:
            sim.set_reporting(int(g), False, t_ms)
            out.extend(self.leave(sim, int(g)))
        return out

    def leave(self, sim: Sim, device: int) -> list[Outgoing]:
        return [sim.status(device, online=False), Link(device, LinkAction.DISCONNECT)]

    def end(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        for g in self.devices:
            out += [Link(int(g), LinkAction.CONNECT), sim.status(int(g), online=True)]
            sim.set_reporting(int(g), True, t_ms)
        return out

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(self.target), self.ticket, via=self.via)]

    via = "offline_status"


class DeviceOfflineWill(DeviceOffline):
    kind = "device_offline_will"
    summary = ("a device's connection drops without DISCONNECT: the broker publishes its last "
               "will (offline); in multiplexed mode the forwarder publishes offline for it")
    via = "last_will"

    def leave(self, sim: Sim, device: int) -> list[Outgoing]:
        return [Link(device, LinkAction.DROP)]


class PowerCut(DeviceOfflineWill):
    kind = "power_cut"
    summary = ("a building loses power: every mains-powered device drops off at once (battery "
               "smoke detectors stay)")
    roles = MAINS_ROLES
    duration_ms = 15 * _MINUTE
    ticket = AlarmKind.OFFLINE_CLUSTER
    also = (AlarmKind.DEVICE_OFFLINE,)

    def involved(self, sim: Sim) -> list[int]:
        return [self.target, *(g for g in sim.in_building(self.target, MAINS_ROLES)
                               if g != self.target)]

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, None, self.ticket, via=self.via)]
