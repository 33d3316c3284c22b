"""Estate descriptions: buildings, units, floors, households and the devices in each place.

An estate file holds one estate (top-level estate keys) or a district (``district``, optional
``defaults`` merged into each entry of ``estates``). Names resolve to the shipped files in
``gongzhi/simulators/estates/``; anything else is a path. Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from gongzhi.core.config_kit import (
    ID_PATTERN,
    ID_RULE,
    STRICT_CONFIG,
    ConfigValueError,
    Document,
    Identifier,
    read_yaml,
    validate,
)
from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType, spec_for

SHIPPED_ESTATES = Path(__file__).with_name("estates")


class Role(StrEnum):
    """Where a device sits; signal models and fault targets are chosen by role."""

    HOUSEHOLD_SMOKE = "household_smoke"
    HOUSEHOLD_ELECTRICAL = "household_electrical"
    HOUSEHOLD_WATER_METER = "household_water_meter"
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
    Role.HOUSEHOLD_WATER_METER: DeviceType.WATER_METER,
    Role.CORRIDOR_SMOKE: DeviceType.SMOKE,
    Role.CORRIDOR_ELECTRICAL: DeviceType.ELECTRICAL,
    Role.RISER: DeviceType.WATER_PRESSURE,
    Role.ROOF_TANK: DeviceType.WATER_PRESSURE,
    Role.PUMP_ROOM: DeviceType.WATER_PRESSURE,
}

PLACE_TYPES = {"smoke": DeviceType.SMOKE, "electrical": DeviceType.ELECTRICAL,
               "water_meter": DeviceType.WATER_METER}


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
    # The estate's share when None.
    elderly_alone_share: float | None = None

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
    if isinstance(name, str) and ID_PATTERN.fullmatch(text):
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
    return parse_estate_file(read_yaml(path), path.stem)


# --- the file's shape -------------------------------------------------------------------------

Count = Annotated[int, Field(strict=True)]
Number = Annotated[float, Field(strict=True)]


def _place_kind(value: Any) -> DeviceType:
    if value not in PLACE_TYPES:
        raise ValueError(f"unknown device kind {value!r}; known: {', '.join(PLACE_TYPES)}")
    return PLACE_TYPES[value]


Places = tuple[Annotated[DeviceType, BeforeValidator(_place_kind)], ...]


class _Buildings(BaseModel):
    """A group of alike buildings: one (``id``) or ``count`` of them named by ``id_format``."""

    model_config = STRICT_CONFIG

    count: Annotated[Count, Field(ge=1, le=10_000)] = 1
    id: Identifier | None = None
    id_format: str = "B{n:02d}"
    first: Annotated[Count, Field(ge=0, le=100_000)] = 1
    units: Annotated[Count, Field(ge=1, le=20)] = 1
    floors: Annotated[Count, Field(ge=1, le=60)]
    households_per_floor: Annotated[Count, Field(ge=1, le=20)] = 2
    floor_height_m: Annotated[Number, Field(ge=2.2, le=6.0)] = 2.9
    risers_per_unit: Annotated[Count, Field(ge=0, le=8)] = 1
    roof_tank: Annotated[bool, Field(strict=True)] = True
    household: Places = (DeviceType.SMOKE, DeviceType.ELECTRICAL)
    corridor: Places = (DeviceType.SMOKE, DeviceType.ELECTRICAL)
    elderly_alone_share: Annotated[Number, Field(ge=0.0, le=1.0)] | None = None

    @model_validator(mode="after")
    def _ids_work(self) -> _Buildings:
        if DeviceType.WATER_METER in self.corridor:
            raise ConfigValueError("a water meter is a household's, not a corridor's", "corridor")
        self.ids()
        return self

    def ids(self) -> list[str]:
        if self.id is not None:
            if self.count != 1:
                raise ConfigValueError("'id' names one building; use 'id_format' with 'count'",
                                       "id")
            return [self.id]
        try:
            ids = [self.id_format.format(n=n) for n in range(self.first, self.first + self.count)]
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigValueError(f"id_format {self.id_format!r} cannot be formatted with n: "
                                   f"{exc}", "id_format") from None
        if wrong := next((i for i in ids if not ID_PATTERN.fullmatch(i)), None):
            raise ConfigValueError(f"building id {wrong!r} must be {ID_RULE}", "id_format")
        return ids

    def specs(self) -> list[BuildingSpec]:
        return [BuildingSpec(building_id, self.units, self.floors, self.households_per_floor,
                             self.floor_height_m, self.risers_per_unit, self.roof_tank,
                             self.household, self.corridor, self.elderly_alone_share)
                for building_id in self.ids()]


class _EstateSettings(BaseModel):
    """What may be written for every estate of a district (``defaults``) or for one."""

    model_config = STRICT_CONFIG

    utc_offset_h: Annotated[Number, Field(ge=-12.0, le=14.0)] = 8.0
    elderly_alone_share: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.12
    report_interval_s: dict[DeviceType, Annotated[Number, Field(ge=1.0, le=2 * 86400.0)]] = (
        Field(default_factory=dict))
    pump_room_sensors: Annotated[Count, Field(ge=0, le=9)] = 1
    settings: dict[Role, dict[str, Annotated[Number, Field(ge=-1e6, le=1e6)]]] = (
        Field(default_factory=dict))
    buildings: tuple[_Buildings, ...] | None = None

    @model_validator(mode="after")
    def _settings_of_the_role(self) -> _EstateSettings:
        for role, values in self.settings.items():
            allowed = spec_for(role.device_type).settings - {"report_interval_s"}
            if wrong := next((k for k in values if k not in allowed), None):
                raise ConfigValueError(
                    f"unknown key {wrong!r} in settings of {role.device_type.value} devices; "
                    f"known: {', '.join(sorted(allowed))}", "settings", role.value, wrong)
        return self


class _Estate(_EstateSettings):
    estate_id: Identifier
    name: str | None = None

    def spec(self, defaults: _EstateSettings, at: tuple[str | int, ...],
             document: Document) -> EstateSpec:
        def pick(key: str) -> Any:
            chosen = self if key in self.model_fields_set else defaults
            return getattr(chosen, key)

        groups: tuple[_Buildings, ...] | None = pick("buildings")
        if groups is None:
            raise document.fail(at, f"estate {self.estate_id!r} needs 'buildings'")
        buildings = [b for group in groups for b in group.specs()]
        ids = [b.building_id for b in buildings]
        if twice := next((i for i in ids if ids.count(i) > 1), None):
            raise document.fail((*at, "buildings"), f"building id {twice!r} appears twice")
        return EstateSpec(
            estate_id=self.estate_id, name=self.name or self.estate_id,
            buildings=tuple(buildings), utc_offset_h=pick("utc_offset_h"),
            elderly_alone_share=pick("elderly_alone_share"),
            report_interval_s=pick("report_interval_s"),
            pump_room_sensors=pick("pump_room_sensors"), settings=pick("settings"))


class _OneEstate(_Estate):
    description: str = ""


class _District(BaseModel):
    model_config = STRICT_CONFIG

    district: str
    description: str = ""
    defaults: _EstateSettings = _EstateSettings()
    estates: Annotated[tuple[_Estate, ...], Field(min_length=1)]


def parse_estate_file(document: Document, name: str) -> EstateFile:
    """One estate (top-level estate keys) or a district of them."""
    estates: list[EstateSpec] = []
    if isinstance(document.data, dict) and "district" in document.data:
        district = validate(document, _District)
        for i, entry in enumerate(district.estates):
            estates.append(entry.spec(district.defaults, ("estates", i), document))
    else:
        one = validate(document, _OneEstate)
        estates.append(one.spec(_EstateSettings(), (), document))
    seen: set[str] = set()
    for i, spec in enumerate(estates):
        if spec.estate_id in seen:
            raise document.fail(("estates", i, "estate_id"),
                                f"estate_id {spec.estate_id!r} appears twice")
        seen.add(spec.estate_id)
    return EstateFile(name=name, source=document.source, estates=tuple(estates))
