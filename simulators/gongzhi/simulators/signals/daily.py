"""Daily curves of residential life, as functions of the local hour (0-24, fractional).

Shapes follow published residential demand profiles: a morning peak around 07:30, a smaller
midday one, and the largest in the evening (19:00-21:00) when cooking, showers and laundry
coincide.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOT_MS = 10_000  # resolution of the tabulated curves
SLOTS = DAY_MS // SLOT_MS


def local_slot(ts_ms: IntArray, utc_offset_ms: IntArray | int) -> IntArray:
    """The 10-second slot of the local day, for indexing ``daily_table``s."""
    return np.asarray((np.asarray(ts_ms) + utc_offset_ms) % DAY_MS // SLOT_MS, dtype=np.int64)


@cache
def daily_table(curve: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """A curve tabulated every 10 s of the day: one lookup per sample instead of a dozen
    array operations, which matters when a step has three devices in it."""
    hours = np.arange(SLOTS, dtype=np.float64) * (SLOT_MS / HOUR_MS)
    table = np.asarray(curve(hours), dtype=np.float64)
    table.setflags(write=False)
    return table


def local_hour(ts_ms: IntArray | int, utc_offset_h: FloatArray | float) -> FloatArray:
    """Hour of the local day in [0, 24)."""
    ms = np.asarray(ts_ms, dtype=np.int64) + np.round(np.asarray(utc_offset_h) * HOUR_MS) \
        .astype(np.int64)
    return np.asarray((ms % DAY_MS) / HOUR_MS, dtype=np.float64)


def _bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    # A Gaussian bump on the 24-hour circle.
    d = np.abs(hour - centre)
    d = np.minimum(d, 24.0 - d)
    return np.asarray(np.exp(-0.5 * (d / width) ** 2), dtype=np.float64)


def water_demand(hour: FloatArray) -> FloatArray:
    """Household water draw, 1.0 at the evening peak, about 0.08 at 03:00."""
    raw = (0.08 + 0.62 * _bump(hour, 7.4, 0.9) + 0.35 * _bump(hour, 12.2, 1.0)
           + 0.95 * _bump(hour, 19.8, 1.4))
    return raw / 1.03


def electrical_load(hour: FloatArray) -> FloatArray:
    """Mean household electrical load as a fraction of its evening peak."""
    raw = (0.18 + 0.30 * _bump(hour, 7.3, 1.0) + 0.35 * _bump(hour, 12.0, 1.2)
           + 0.80 * _bump(hour, 20.0, 1.8))
    return raw / 1.0


def cooking_rate(hour: FloatArray) -> FloatArray:
    """Rate (per hour) at which a household starts cooking."""
    return 0.25 * _bump(hour, 7.0, 0.6) + 0.9 * _bump(hour, 11.6, 0.6) \
        + 1.3 * _bump(hour, 18.2, 0.8)


def cooling_rate(hour: FloatArray) -> FloatArray:
    """Rate (per hour) at which a household turns the air-conditioning on (warm season)."""
    return 0.05 + 0.35 * _bump(hour, 14.5, 2.5) + 0.55 * _bump(hour, 22.0, 1.5)


def heater_rate(hour: FloatArray) -> FloatArray:
    """Rate (per hour) of electric water-heater use (evening showers, some mornings)."""
    return 0.02 + 0.25 * _bump(hour, 7.0, 0.8) + 0.8 * _bump(hour, 21.0, 1.2)


def appliance_rate(hour: FloatArray) -> FloatArray:
    """Short appliances (kettle, microwave, washing machine): daytime and evening."""
    return 0.1 + 0.6 * _bump(hour, 9.5, 2.5) + 0.6 * _bump(hour, 19.5, 2.0)


def indoor_temp_c(hour: FloatArray) -> FloatArray:
    """Indoor air temperature, warmest mid-afternoon (subtropical warm season)."""
    return 26.5 + 2.0 * np.cos(2 * np.pi * (hour - 15.5) / 24.0)


def relative_humidity(hour: FloatArray) -> FloatArray:
    """Relative humidity (0-1), highest before dawn: it drives natural leakage current."""
    return 0.72 + 0.12 * np.cos(2 * np.pi * (hour - 5.0) / 24.0)


def corridor_lighting_w(hour: FloatArray) -> FloatArray:
    """Stairwell lighting on one landing's distribution box: on from dusk to dawn."""
    night = (hour >= 18.5) | (hour < 6.5)
    return np.where(night, 45.0, 8.0)
