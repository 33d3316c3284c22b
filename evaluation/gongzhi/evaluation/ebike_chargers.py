"""Real e-bike charger curves (``shared/data/ebike-chargers``: 48 V chargers logged by a smart
plug about every 5 minutes) as shapes to play into real household loads.

A shape is the real taper of one complete charge, normalised by its plateau (the draw just
before the taper began) and timed from the taper's start, to where the charge ended (the plug's
log fell under 5 W, or the charger cut off). The logs began after the charges had started, so
the plateau's length is not in them: the data's README gives about 1.5 h, and the plateau's creep
(about +3 % over it) is the one measured before the tapers. A played charge scales the shape:
plateau level ``level_w`` and total length (plateau plus taper) ``hours``, the plateau taking
the same share of it as in the real charges.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np

MINUTE_MS = 60_000
PLATEAU_MIN = 90.0  # README: about 1.5 h at the plateau
CREEP = 0.03  # the plateau rises about 3 % over its length (lectric_battery_2: 97.7 -> 101.6 W)
CUT_W = 5.0  # the plug's log stops at 5 W
FULL_CHARGE_FILE = "sample_full_charge_ebike_battery_manager_power.csv"


@dataclass(frozen=True, slots=True)
class TaperShape:
    plug: str
    minutes: np.ndarray  # since the taper began
    share: np.ndarray  # of the plateau

    @property
    def length_min(self) -> float:
        return float(self.minutes[-1])


@cache
def taper_shapes(data_dir: Path) -> tuple[TaperShape, ...]:
    """The complete tapers of the full-charge log: plugs whose log holds a plateau above 90 W
    (three points within 2 % of its top) and falls to the cut."""
    by_plug: dict[str, list[tuple[float, float]]] = {}
    with (data_dir / "ebike-chargers" / FULL_CHARGE_FILE).open(newline="") as handle:
        for row in csv.DictReader(handle):
            minute = datetime.fromisoformat(row["timestamp"]).timestamp() / 60.0
            by_plug.setdefault(row["plug"], []).append((minute, float(row["power_w"])))
    shapes: list[TaperShape] = []
    for plug, points in sorted(by_plug.items()):
        t = np.array([p[0] for p in points])
        w = np.array([p[1] for p in points])
        if w.size < 10 or w.max() < 90.0:
            continue
        peak = int(np.argmax(w))
        if np.sum(w >= 0.98 * w[peak]) < 3:
            continue  # the log began in the taper: no plateau to scale by
        plateau = float(w[peak])
        # The taper begins after the last point within 2 % of the peak.
        start = peak + int(np.flatnonzero(w[peak:] >= 0.98 * plateau)[-1])
        end = start + int(np.flatnonzero(w[start:] >= CUT_W)[-1])
        # A charger that cuts off (a drop of more than half in one sample) ends there.
        drops = np.flatnonzero(w[start + 1:end + 1] < 0.5 * w[start:end])
        if drops.size:
            end = start + int(drops[0])
        if end - start < 5:
            continue
        shapes.append(TaperShape(plug, t[start:end + 1] - t[start], w[start:end + 1] / plateau))
    return tuple(shapes)


@dataclass(frozen=True, slots=True)
class Charge:
    """One charge played into a circuit: the charger's draw for each minute since plug-in."""

    plug: str
    level_w: float
    hours: float
    plateau_min: float
    taper_end_min: float  # when the draw ends (alarm must come before)
    draw_w: np.ndarray  # one per minute from plug-in

    @classmethod
    def scaled(cls, shape: TaperShape, level_w: float, hours: float) -> Charge:
        natural = PLATEAU_MIN + shape.length_min
        scale = hours * 60.0 / natural
        plateau_min = PLATEAU_MIN * scale
        taper_min = shape.length_min * scale
        minutes = np.arange(int(np.ceil(plateau_min + taper_min)) + 1, dtype=np.float64)
        on_plateau = minutes < plateau_min
        creep = 1.0 + CREEP * minutes / plateau_min
        top = 1.0 + CREEP
        taper = np.interp((minutes - plateau_min) / scale, shape.minutes, shape.share,
                          right=0.0) * top
        draw = level_w * np.where(on_plateau, creep, taper)
        ended = minutes > plateau_min + taper_min
        return cls(shape.plug, level_w, hours, plateau_min, plateau_min + taper_min,
                   np.where(ended, 0.0, draw))
