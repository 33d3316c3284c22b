"""The estate map's shape, generated from the device registry: estates, their buildings, and in
each building the units and floors that hold devices. No room and no household: the map colours
places (one floor of one unit) and the tickets say the rest to those entitled to it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gongzhi.devices.registry import DeviceRecord
from gongzhi.hub.deps import CurrentParty, RegistryDep

router = APIRouter(tags=["pages"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlacePublic(_Strict):
    unit: str
    floor: str
    devices: int


class BuildingLayout(_Strict):
    building: str
    units: list[str]
    floors: list[str]
    places: list[PlacePublic]
    devices: int


class EstateLayout(_Strict):
    estate_id: str
    buildings: list[BuildingLayout]
    devices: int


class Layout(_Strict):
    estates: list[EstateLayout]


def _natural(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.lstrip("-").isdigit() else (1, 0, value)


def build_layout(records: Iterable[DeviceRecord]) -> dict[str, Any]:
    """Places counted from the registry, in natural order (building 2 before building 10)."""
    places: dict[str, dict[str, dict[tuple[str, str], int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int)))
    for record in records:
        loc = record.location
        places[loc.estate_id][loc.building][(loc.unit, loc.floor)] += 1
    estates: list[dict[str, Any]] = []
    for estate_id in sorted(places):
        buildings: list[dict[str, Any]] = []
        for building in sorted(places[estate_id], key=_natural):
            counts = places[estate_id][building]
            buildings.append({
                "building": building,
                "units": sorted({unit for unit, _ in counts}, key=_natural),
                "floors": sorted({floor for _, floor in counts}, key=_natural),
                "places": [{"unit": unit, "floor": floor, "devices": n}
                           for (unit, floor), n in sorted(counts.items())],
                "devices": sum(counts.values()),
            })
        estates.append({"estate_id": estate_id, "buildings": buildings,
                        "devices": sum(b["devices"] for b in buildings)})
    return {"estates": estates}


@router.get("/api/layout", response_model=Layout)
def layout(party: CurrentParty, registry: RegistryDep) -> dict[str, Any]:
    """The estate map from the registry (buildings, units, floors; no rooms, no households)."""
    del party  # any signed-in party may see the shape of the estate
    return build_layout(registry)
