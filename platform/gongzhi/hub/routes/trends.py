"""Trends for the alarm wall from recorded telemetry (read-only; the gateway writes it): fire-riser
pressures over the last hours, the highest leakage currents now, and one device's values around
an alarm for the ticket drawer's evidence chart.

The settings pick the store (``gongzhi.telemetry.reader.open_reader``): InfluxDB when one is
configured, else the embedded store in the data directory. With no store yet (no gateway has
written) the answers are empty; a store that cannot be reached answers 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict

from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import CATALOGUE, DeviceType, Op
from gongzhi.devices.registry import Registry
from gongzhi.hub.deps import ClockDep, CurrentParty, RegistryDep
from gongzhi.hub.privacy import VIEWS, Access, public_location
from gongzhi.telemetry.reader import TelemetryReader, open_reader

router = APIRouter(prefix="/api/trends", tags=["trends"],
                   responses={403: {"description": "the party has no measurement views"}})

HOUR_MS = 3_600_000
MAX_PRESSURE_SERIES = 8
# The parties whose screens show measurements (the wall and the police console).
TREND_VIEWS = frozenset({"wall", "police", "devices"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Series(_Strict):
    device_id: str
    label: str
    points: list[tuple[int, float]]


class PressureTrend(_Strict):
    metric: str
    threshold: float
    since_ms: int
    until_ms: int
    series: list[Series]


class LeakageItem(_Strict):
    device_id: str
    location: dict[str, str | None]
    value: float
    ts_ms: int


class LeakageTop(_Strict):
    metric: str
    threshold: float
    items: list[LeakageItem]


class DeviceSeries(_Strict):
    device_id: str
    metric: str
    points: list[tuple[int, float]]


def _default_threshold(device_type: DeviceType, metric: str, op: Op) -> float:
    return next(r.threshold for r in CATALOGUE[device_type].thresholds
                if r.metric == metric and r.op is op)


PRESSURE_LOW_MPA = _default_threshold(DeviceType.WATER_PRESSURE, "pressure_mpa", Op.BELOW)
LEAKAGE_ALARM_MA = _default_threshold(DeviceType.ELECTRICAL, "residual_ma", Op.ABOVE)


def telemetry_reader(request: Request) -> Callable[[], TelemetryReader]:
    """Opens the reader of the store the app's settings name (one per request, in its thread)."""
    settings: Settings = request.app.state.settings
    return lambda: open_reader(settings)


def trend_party(party: CurrentParty) -> str:
    if not TREND_VIEWS.intersection(VIEWS.get(party, ())):
        raise HTTPException(403, f"{party} has no measurement views")
    return party


TrendParty = Annotated[str, Depends(trend_party)]
TelemetryDep = Annotated[Callable[[], TelemetryReader], Depends(telemetry_reader)]


def pressure_series(reader: TelemetryReader, registry: Registry, since: int, until: int,
                    max_series: int = MAX_PRESSURE_SERIES) -> list[dict[str, Any]]:
    """The riser sensors with the lowest pressure first: those are the ones to watch."""
    found: list[dict[str, Any]] = []
    for record in registry:
        if record.type is not DeviceType.WATER_PRESSURE:
            continue
        points = reader.series(record.device_id, "pressure_mpa", since, until, max_points=144)
        if points:
            label = record.riser or f"{record.location.building}-{record.location.floor}"
            found.append({"device_id": record.device_id, "label": label, "points": points})
    found.sort(key=lambda s: (min(v for _, v in s["points"]), s["device_id"]))
    return found[:max_series]


def leakage_top(reader: TelemetryReader, registry: Registry, top: int,
                since: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for record in registry:
        if record.type is not DeviceType.ELECTRICAL:
            continue
        latest = reader.latest(record.device_id, "residual_ma", since)
        if latest is not None:
            items.append({"device_id": record.device_id,
                          "location": public_location(record.location, Access.NONE),
                          "value": latest[1], "ts_ms": latest[0]})
    items.sort(key=lambda x: (-x["value"], x["device_id"]))
    return items[:top]


@router.get("/pressure", response_model=PressureTrend)
async def pressure(party: TrendParty, registry: RegistryDep, clock: ClockDep,
                   telemetry: TelemetryDep,
                   hours: Annotated[int, Query(ge=1, le=168)] = 24) -> dict[str, Any]:
    """Fire-riser pressures over the last ``hours`` (at most 8 sensors, lowest first)."""
    del party
    until = clock.now_ms()
    since = until - hours * HOUR_MS

    def read() -> list[dict[str, Any]]:
        with telemetry() as reader:
            return pressure_series(reader, registry, since, until)

    return {"metric": "pressure_mpa", "threshold": PRESSURE_LOW_MPA, "since_ms": since,
            "until_ms": until, "series": await to_thread.run_sync(read)}


@router.get("/leakage", response_model=LeakageTop)
async def leakage(party: TrendParty, registry: RegistryDep, clock: ClockDep,
                  telemetry: TelemetryDep,
                  top: Annotated[int, Query(ge=1, le=50)] = 6) -> dict[str, Any]:
    """The highest residual currents reported in the last hour."""
    del party
    since = clock.now_ms() - HOUR_MS

    def read() -> list[dict[str, Any]]:
        with telemetry() as reader:
            return leakage_top(reader, registry, top, since)

    return {"metric": "residual_ma", "threshold": LEAKAGE_ALARM_MA,
            "items": await to_thread.run_sync(read)}


@router.get("/series", response_model=DeviceSeries,
            responses={404: {"description": "no such device in the registry"}})
async def series(party: TrendParty, registry: RegistryDep, telemetry: TelemetryDep,
                 device_id: str, metric: str,
                 start_ms: Annotated[int, Query(ge=0)],
                 end_ms: Annotated[int, Query(ge=0)]) -> dict[str, Any]:
    """One device's values in a window of at most a day (the evidence around an alarm)."""
    del party
    record = registry.get(device_id)
    if record is None:
        raise HTTPException(404, f"no device {device_id!r} in the registry")
    if metric not in CATALOGUE[record.type].metrics:
        raise RequestValidationError([{
            "loc": ("query", "metric"), "type": "unknown_metric",
            "msg": f"a {record.type.value} device has no metric {metric!r}"}])
    if not 0 <= end_ms - start_ms <= 24 * HOUR_MS:
        raise RequestValidationError([{
            "loc": ("query", "end_ms"), "type": "window",
            "msg": "the window must run forward from start_ms and last at most 24 h"}])

    def read() -> list[tuple[int, float]]:
        with telemetry() as reader:
            return reader.series(device_id, metric, start_ms, end_ms, max_points=300)

    return {"device_id": device_id, "metric": metric, "points": await to_thread.run_sync(read)}
