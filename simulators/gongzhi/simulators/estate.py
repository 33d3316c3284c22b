"""Estate descriptions: buildings, units, floors, households and the devices in each place.

An estate file holds one estate (top-level estate keys) or a district (``district``, optional
``defaults`` merged into each entry of ``estates``). Names resolve to the shipped files in
``gongzhi/simulators/estates/``; anything else is a path. Errors name the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.simulators.yamlfile import (
    MarkedList,
    MarkedMap,
    as_float,
    as_int,
    as_list,
    as_map,
    check_keys,
    load_yaml,
    need,
)

SHIPPED_ESTATES = Path(__file__).with_name("estates")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class Role(StrEnum):
    """Where a device sits; signal models and fault targets are chosen by role."""

    HOUSEHOLD_SMOKE = "household_smoke"
    HOUSEHOLD_ELECTRICAL = "household_electrical"
    CORRIDOR_SMOKE = "corridor_smoke"
    CORRIDOR_ELECTRICAL = "corridor_electrical"
    RISER = "riser"
    ROOF_TANK = "roof_tank"
    PUMP_ROOM = "pump_room"

    @property
    def device_type(self) -> DeviceType:
        return ROLE_TYPES[self]

    @property
    def position(self) -> str:
        return self.value.split("_")[0] if self.value.startswith(("household", "corridor")) \
            else self.value


ROLE_TYPES: dict[Role, DeviceType] = {
    Role.HOUSEHOLD_SMOKE: DeviceType.SMOKE,
    Role.HOUSEHOLD_ELECTRICAL: DeviceType.ELECTRICAL,
    Role.CORRIDOR_SMOKE: DeviceType.SMOKE,
    Role.CORRIDOR_ELECTRICAL: DeviceType.ELECTRICAL,
    Role.RISER: DeviceType.WATER_PRESSURE,
    Role.ROOF_TANK: DeviceType.WATER_PRESSURE,
    Role.PUMP_ROOM: DeviceType.WATER_PRESSURE,
}

PLACE_TYPES = {"smoke": DeviceType.SMOKE, "electrical": DeviceType.ELECTRICAL}


@dataclass(frozen=True, slots=True)
class BuildingSpec:
    building_id: str
    units: int
    floors: int
    households_per_floor: int
    floor_height_m: float = 2.9
    risers_per_unit: int = 1
    roof_tank: bool = True
    household_devices: tuple[DeviceType, ...] = (DeviceType.SMOKE, DeviceType.ELECTRICAL)
    corridor_devices: tuple[DeviceType, ...] = (DeviceType.SMOKE, DeviceType.ELECTRICAL)

    @property
    def households(self) -> int:
        return self.units * self.floors * self.households_per_floor

    @property
    def device_count(self) -> int:
        per_floor_unit = (self.households_per_floor * len(self.household_devices)
                          + len(self.corridor_devices))
        return (self.units * self.floors * per_floor_unit + self.units * self.risers_per_unit
                + int(self.roof_tank))


@dataclass(frozen=True, slots=True)
class EstateSpec:
    estate_id: str
    name: str
    buildings: tuple[BuildingSpec, ...]
    utc_offset_h: float = 8.0
    elderly_alone_share: float = 0.12
    report_interval_s: Mapping[DeviceType, float] = field(default_factory=dict)
    pump_room_sensors: int = 1
    settings: Mapping[Role, Mapping[str, float]] = field(default_factory=dict)

    @property
    def device_count(self) -> int:
        return sum(b.device_count for b in self.buildings) + self.pump_room_sensors

    def interval_s(self, device_type: DeviceType) -> float:
        default = spec_for(device_type).report_interval_ms / 1000
        return self.report_interval_s.get(device_type, default)


@dataclass(frozen=True, slots=True)
class EstateFile:
    name: str
    source: str
    estates: tuple[EstateSpec, ...]

    @property
    def device_count(self) -> int:
        return sum(e.device_count for e in self.estates)


def resolve_estate(estate: str | Path) -> Path:
    """A shipped estate name (``small``, ``demo``, ``district``) or a path to a YAML file."""
    return resolve_named_file(estate, SHIPPED_ESTATES, "estate")


def resolve_named_file(name: str | Path, shipped_dir: Path, what: str) -> Path:
    text = str(name)
    if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]+", text):
        shipped = shipped_dir / f"{text}.yaml"
        if shipped.exists():
            return shipped
        if not Path(text).exists():
            known = ", ".join(sorted(p.stem for p in shipped_dir.glob("*.yaml")))
            raise ConfigError(f"no shipped {what} named {text!r}; shipped: {known}; "
                              f"or give a path to a YAML file")
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    return path


def load_estate_file(estate: str | Path) -> EstateFile:
    path = resolve_estate(estate)
    return parse_estate_file(load_yaml(path), path.stem)


ESTATE_KEYS = frozenset({"estate_id", "name", "utc_offset_h", "elderly_alone_share",
                         "report_interval_s", "pump_room_sensors", "buildings", "settings"})
BUILDING_KEYS = frozenset({"count", "id", "id_format", "first", "units", "floors",
                           "households_per_floor", "floor_height_m", "risers_per_unit",
                           "roof_tank", "household", "corridor"})


def parse_estate_file(doc: MarkedMap, name: str) -> EstateFile:
    if "district" in doc:
        check_keys(doc, {"district", "description", "defaults", "estates"}, "a district")
        defaults = as_map(doc.get("defaults", _empty_like(doc)), doc.where("defaults"),
                          "defaults")
        check_keys(defaults, ESTATE_KEYS - {"estate_id", "name"}, "district defaults")
        entries = as_list(need(doc, "estates", "a district"), doc.where("estates"), "estates")
        estates = []
        for i, entry in enumerate(entries):
            node = as_map(entry, entries.where(i), "an estate")
            estates.append(_parse_estate(_merged(defaults, node)))
    else:
        check_keys(doc, ESTATE_KEYS | {"description"}, "an estate")
        estates = [_parse_estate(doc)]
    seen: set[str] = set()
    for spec in estates:
        if spec.estate_id in seen:
            raise doc.fail(f"estate_id {spec.estate_id!r} appears twice")
        seen.add(spec.estate_id)
    if not estates:
        raise doc.fail("no estates")
    return EstateFile(name=name, source=doc.source, estates=tuple(estates))


def _empty_like(doc: MarkedMap) -> MarkedMap:
    empty = MarkedMap()
    empty.source, empty.line, empty.key_lines = doc.source, doc.line, {}
    return empty


def _merged(defaults: MarkedMap, node: MarkedMap) -> MarkedMap:
    merged = MarkedMap({**defaults, **node})
    merged.source, merged.line = node.source, node.line
    merged.key_lines = {**defaults.key_lines, **node.key_lines}
    return merged


def _parse_estate(node: MarkedMap) -> EstateSpec:
    estate_id = need(node, "estate_id", "an estate")
    if not isinstance(estate_id, str) or not ID_PATTERN.match(estate_id):
        raise node.fail(f"estate_id must match [A-Za-z0-9_-]{{1,40}}, got {estate_id!r}",
                        "estate_id")
    groups = as_list(need(node, "buildings", "an estate"), node.where("buildings"), "buildings")
    buildings: list[BuildingSpec] = []
    for i, group in enumerate(groups):
        buildings.extend(_parse_buildings(as_map(group, groups.where(i), "a building group")))
    ids = [b.building_id for b in buildings]
    for b in buildings:
        if ids.count(b.building_id) > 1:
            raise node.fail(f"building id {b.building_id!r} appears twice", "buildings")
    intervals: dict[DeviceType, float] = {}
    if "report_interval_s" in node:
        raw = as_map(node["report_interval_s"], node.where("report_interval_s"),
                     "report_interval_s")
        check_keys(raw, {t.value for t in DeviceType}, "report_interval_s")
        intervals = {DeviceType(k): as_float(raw, k, low=1.0, high=2 * 86400.0) for k in raw}
    return EstateSpec(
        estate_id=estate_id,
        name=str(node.get("name", estate_id)),
        buildings=tuple(buildings),
        utc_offset_h=as_float(node, "utc_offset_h", 8.0, low=-12.0, high=14.0),
        elderly_alone_share=as_float(node, "elderly_alone_share", 0.12, low=0.0, high=1.0),
        report_interval_s=intervals,
        pump_room_sensors=as_int(node, "pump_room_sensors", 1, high=9),
        settings=_parse_settings(node),
    )


def _parse_settings(node: MarkedMap) -> dict[Role, dict[str, float]]:
    if "settings" not in node:
        return {}
    raw = as_map(node["settings"], node.where("settings"), "settings")
    check_keys(raw, {r.value for r in Role}, "settings (one mapping per device role)")
    out: dict[Role, dict[str, float]] = {}
    for role_name in raw:
        role = Role(role_name)
        values = as_map(raw[role_name], raw.where(role_name), f"settings.{role_name}")
        allowed = spec_for(role.device_type).settings - {"report_interval_s"}
        check_keys(values, allowed, f"settings of {role.device_type.value} devices")
        out[role] = {k: as_float(values, k, low=-1e6, high=1e6) for k in values}
    return out


def _parse_buildings(node: MarkedMap) -> list[BuildingSpec]:
    check_keys(node, BUILDING_KEYS, "a building group")
    count = as_int(node, "count", 1, low=1, high=10_000)
    first = as_int(node, "first", 1, high=100_000)
    if "id" in node:
        if count != 1:
            raise node.fail("'id' names one building; use 'id_format' with 'count'", "id")
        ids = [str(node["id"])]
    else:
        fmt = str(node.get("id_format", "B{n:02d}"))
        try:
            ids = [fmt.format(n=n) for n in range(first, first + count)]
        except (KeyError, IndexError, ValueError) as exc:
            raise node.fail(f"id_format {fmt!r} cannot be formatted with n: {exc}",
                            "id_format") from None
    for building_id in ids:
        if not ID_PATTERN.match(building_id):
            raise node.fail(f"building id {building_id!r} must match [A-Za-z0-9_-]{{1,40}}")
    return [
        BuildingSpec(
            building_id=building_id,
            units=as_int(node, "units", 1, low=1, high=20),
            floors=as_int(node, "floors", low=1, high=60),
            households_per_floor=as_int(node, "households_per_floor", 2, low=1, high=20),
            floor_height_m=as_float(node, "floor_height_m", 2.9, low=2.2, high=6.0),
            risers_per_unit=as_int(node, "risers_per_unit", 1, high=8),
            roof_tank=_as_bool(node, "roof_tank", True),
            household_devices=_device_list(node, "household"),
            corridor_devices=_device_list(node, "corridor"),
        )
        for building_id in ids
    ]


def _as_bool(node: MarkedMap, key: str, default: bool) -> bool:
    value = node.get(key, default)
    if not isinstance(value, bool):
        raise node.fail(f"{key} must be true or false, got {value!r}", key)
    return value


def _device_list(node: MarkedMap, key: str) -> tuple[DeviceType, ...]:
    if key not in node:
        return (DeviceType.SMOKE, DeviceType.ELECTRICAL)
    items: Any = node[key]
    if not isinstance(items, MarkedList):
        raise node.fail(f"{key} must be a list of device kinds (smoke, electrical)", key)
    out = []
    for i, item in enumerate(items):
        if item not in PLACE_TYPES:
            raise ConfigError(f"{key}: unknown device kind {item!r}; known: smoke, electrical",
                              source=items.where(i))
        out.append(PLACE_TYPES[item])
    return tuple(out)
