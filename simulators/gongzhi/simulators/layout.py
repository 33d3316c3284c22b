"""From an estate description to placed devices and their registry records, deterministically.

Device ids depend only on the estate file; household flags (``elderly_alone``) and phone numbers
depend on the seed too. ``household`` and ``riser`` columns carry the estate id, so they are
unique across a district. Each estate draws from its own generator (seeded by the seed and the
estate id), so adding an estate to a district changes nobody else's flags.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry, write_registry
from gongzhi.simulators.estate import (
    ROLE_TYPES,
    BuildingSpec,
    EstateFile,
    EstateSpec,
    Role,
    load_estate_file,
)

TYPE_CODES = {DeviceType.SMOKE: "SD", DeviceType.ELECTRICAL: "EM", DeviceType.WATER_METER: "WM"}
HOUSEHOLD_ROLES = {DeviceType.SMOKE: Role.HOUSEHOLD_SMOKE,
                   DeviceType.ELECTRICAL: Role.HOUSEHOLD_ELECTRICAL,
                   DeviceType.WATER_METER: Role.HOUSEHOLD_WATER_METER}
CORRIDOR_CODES = {DeviceType.SMOKE: "CSD", DeviceType.ELECTRICAL: "DB"}
PUMP_ROOM_BUILDING = "PR"


@dataclass(frozen=True, slots=True)
class PlacedDevice:
    record: DeviceRecord
    role: Role
    # Index into ``EstateLayout.buildings``; the pump room of an estate counts as a building
    # place of its own (``BuildingPlace.is_pump_room``).
    building: int
    floor: int  # 0 for the pump room, floors + 1 for the roof
    unit: int

    @property
    def device_id(self) -> str:
        return self.record.device_id


@dataclass(frozen=True, slots=True)
class BuildingPlace:
    estate_id: str
    building_id: str
    spec: BuildingSpec | None  # None: the estate's pump room
    estate_index: int

    @property
    def is_pump_room(self) -> bool:
        return self.spec is None


@dataclass(frozen=True, slots=True)
class EstateLayout:
    source: EstateFile
    seed: int
    devices: tuple[PlacedDevice, ...]
    buildings: tuple[BuildingPlace, ...]

    @property
    def estates(self) -> tuple[EstateSpec, ...]:
        return self.source.estates

    def registry(self) -> Registry:
        return Registry(d.record for d in self.devices)


def estate_rng(seed: int, estate_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(estate_id.encode())])


def build_layout(source: EstateFile, seed: int = 0) -> EstateLayout:
    devices: list[PlacedDevice] = []
    buildings: list[BuildingPlace] = []
    for estate_index, estate in enumerate(source.estates):
        rng = estate_rng(seed, estate.estate_id)
        settings = _role_settings(estate)
        for spec in estate.buildings:
            buildings.append(BuildingPlace(estate.estate_id, spec.building_id, spec,
                                           estate_index))
            devices.extend(_building_devices(estate, settings, spec, len(buildings) - 1, rng))
        if estate.pump_room_sensors:
            buildings.append(BuildingPlace(estate.estate_id, PUMP_ROOM_BUILDING, None,
                                           estate_index))
            for n in range(1, estate.pump_room_sensors + 1):
                devices.append(_placed(estate, settings, Role.PUMP_ROOM, len(buildings) - 1,
                                       f"{estate.estate_id}-PR-P{n}-WP", PUMP_ROOM_BUILDING,
                                       unit=0, floor=0, room=f"pump-{n}"))
    return EstateLayout(source=source, seed=seed, devices=tuple(devices),
                        buildings=tuple(buildings))


def _building_devices(estate: EstateSpec, settings: Mapping[Role, Mapping[str, float]],
                      spec: BuildingSpec, building: int,
                      rng: np.random.Generator) -> list[PlacedDevice]:
    out: list[PlacedDevice] = []
    prefix = f"{estate.estate_id}-{spec.building_id}"
    n_households = spec.households
    share = estate.elderly_alone_share if spec.elderly_alone_share is None \
        else spec.elderly_alone_share
    elderly = rng.random(n_households) < share
    phones = rng.integers(0, 100_000_000, n_households)
    mobile_prefixes = ("138", "139", "135", "136", "186", "158")
    prefix_pick = rng.integers(0, len(mobile_prefixes), n_households)
    h = 0
    for unit in range(1, spec.units + 1):
        for floor in range(1, spec.floors + 1):
            for k in range(1, spec.households_per_floor + 1):
                room = f"{floor}{k:02d}"
                household = f"{prefix}-U{unit}-{room}"
                alone = bool(elderly[h])
                phone = (f"{mobile_prefixes[int(prefix_pick[h])]}{int(phones[h]):08d}"
                         if alone else None)
                h += 1
                for device_type in spec.household_devices:
                    role = HOUSEHOLD_ROLES[device_type]
                    out.append(_placed(estate, settings, role, building,
                                       f"{prefix}-U{unit}-{room}-{TYPE_CODES[device_type]}",
                                       spec.building_id, unit, floor, room,
                                       elderly_alone=alone, phone=phone, household=household))
            for device_type in spec.corridor_devices:
                role = (Role.CORRIDOR_SMOKE if device_type is DeviceType.SMOKE
                        else Role.CORRIDOR_ELECTRICAL)
                out.append(_placed(estate, settings, role, building,
                                   f"{prefix}-U{unit}-F{floor}-{CORRIDOR_CODES[device_type]}",
                                   spec.building_id, unit, floor, f"F{floor}-corridor"))
        for r in range(1, spec.risers_per_unit + 1):
            riser = f"{prefix}-U{unit}-R{r}"
            out.append(_placed(estate, settings, Role.RISER, building, f"{prefix}-U{unit}-R{r}-WP",
                               spec.building_id, unit, 1, f"riser-{r}", riser=riser))
    if spec.roof_tank:
        out.append(_placed(estate, settings, Role.ROOF_TANK, building, f"{prefix}-TANK-WP",
                           spec.building_id, 0, spec.floors + 1, "roof-tank"))
    return out


def _placed(estate: EstateSpec, settings: Mapping[Role, Mapping[str, float]], role: Role,
            building: int, device_id: str, building_id: str, unit: int, floor: int, room: str,
            *, elderly_alone: bool = False,
            phone: str | None = None, household: str | None = None,
            riser: str | None = None) -> PlacedDevice:
    record = DeviceRecord(
        device_id=device_id,
        type=ROLE_TYPES[role],
        location=Location(estate.estate_id, building_id, str(unit) if unit else "",
                          "roof" if role is Role.ROOF_TANK else str(floor), room),
        elderly_alone=elderly_alone,
        settings=settings[role],
        phone=phone,
        riser=riser,
        household=household,
        position=POSITIONS[role],
    )
    return PlacedDevice(record=record, role=role, building=building, floor=floor, unit=unit)


def _role_settings(estate: EstateSpec) -> dict[Role, Mapping[str, float]]:
    # One read-only mapping per role, shared by its devices (records never change settings).
    return {role: MappingProxyType({"report_interval_s": estate.interval_s(role.device_type),
                                    **estate.settings.get(role, {})}) for role in Role}


POSITIONS = {role: role.position for role in Role}


def write_estate_registry(estate: str | Path, out: Path, seed: int = 0) -> Registry:
    """Write the registry CSV (docs/contract.md) of a shipped estate name or an estate file,
    and return it."""
    layout = build_layout(load_estate_file(estate), seed)
    write_registry(out, (d.record for d in layout.devices))
    return layout.registry()
