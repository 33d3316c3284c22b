"""Fit the living-pattern simulator's distributions to the real homes of
``shared/data/household-power`` (the development months of ``welfare_real.SPLITS`` only), with a
reading of the data of its own, not the detector's: a *use* is a rise of the whole-house power
by at least ``USE_W`` within one minute (an appliance switched on); a day's *wake* time is its
first use after 04:00, its *bed* time its last use before 02:00 the next night; *outing* is the
day's longest time without a use between wake and bed. Kettle and microwave powers are the
medians of their own sub-metered power while on. *Left on*: the share of the minutes between a
day's wake and bed after which the power stays, for the whole next hour, above the day's standby
floor (its 1st percentile) plus ``max(30 W, 25 %)`` (the welfare rule's "all off" margin): what a
person falling at a random moment of their day would leave on (a light, the television, heating).

``python -m gongzhi.evaluation.welfare_fit`` writes ``simulators/.../living_fit.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gongzhi.evaluation.household import default_data_dir, load_recordings
from gongzhi.evaluation.welfare_real import SPLITS

USE_W = 300.0
DAY_MIN = 1440
OUT = (Path(__file__).resolve().parents[3] / "simulators" / "gongzhi" / "simulators"
       / "living_fit.json")


def _robust(values: list[float]) -> dict[str, float]:
    a = np.array(values)
    median = float(np.median(a))
    spread = float(1.4826 * np.median(np.abs(a - median)))
    return {"median": round(median, 3), "sd": round(max(spread, 0.05), 3), "n": len(values)}


def _left_on(power: np.ndarray, use_min: np.ndarray) -> float:
    """The share of the day's waking minutes after which something stays on for an hour."""
    floor = float(np.percentile(power, 1))
    above = floor + max(30.0, 0.25 * floor)
    hour_min = np.lib.stride_tricks.sliding_window_view(power, 60).min(axis=1)
    first, last = int(use_min[0]), min(int(use_min[-1]), hour_min.size)
    return float(np.mean(hour_min[first:last] > above)) if last > first else 0.0


def _days(data_dir: Path, house: str, first: str, last: str) -> dict[str, Any]:
    recs = [r for r in load_recordings(data_dir, house) if first <= r.month <= last]
    ts = np.concatenate([r.ts for r in recs])
    power = np.concatenate([r.aggregate for r in recs])
    kettle = np.concatenate([r.appliances["Kettle"] for r in recs])
    micro = np.concatenate([r.appliances["Microwave"] for r in recs])
    minute = ts // 60_000
    contiguous = np.diff(minute) == 1
    rise = np.zeros(ts.size, np.bool_)
    rise[1:] = contiguous & (np.diff(power) >= USE_W)
    shifted = (minute - 4 * 60)  # a day from 04:00
    day = shifted // DAY_MIN
    out: dict[str, list[float]] = {"wake_weekday": [], "wake_weekend": [], "bed": [],
                                   "uses_per_hour": [], "outing_h": [], "left_on": []}
    for d in np.unique(day):
        rows = day == d
        if rows.sum() < 0.9 * DAY_MIN:
            continue  # a day with gaps: not read
        uses = (shifted[rows & rise] - d * DAY_MIN) / 60.0 + 4.0  # hours after midnight
        uses = uses[uses < 26.0]
        if uses.size < 3:
            continue  # away
        weekend = (int(d) + 3) % 7 >= 5
        out["wake_weekend" if weekend else "wake_weekday"].append(float(uses[0]))
        out["bed"].append(float(uses[-1]))
        awake = max(uses[-1] - uses[0], 1.0)
        out["uses_per_hour"].append(float(uses.size / awake))
        out["outing_h"].append(float(np.max(np.diff(uses))) if uses.size > 1 else awake)
        if np.all(power[rows] > 0):
            out["left_on"].append(_left_on(power[rows], shifted[rows & rise] - d * DAY_MIN))
    return {"days": out, "kettle_w": kettle[kettle > 500].tolist(),
            "microwave_w": micro[micro > 300].tolist()}


def fit(data_dir: Path) -> dict[str, Any]:
    pooled: dict[str, list[float]] = {}
    kettle: list[float] = []
    micro: list[float] = []
    for house, first, last in SPLITS["development"]:
        part = _days(data_dir, house, first, last)
        for k, v in part["days"].items():
            pooled.setdefault(k, []).extend(v)
        kettle += part["kettle_w"]
        micro += part["microwave_w"]
    outing = np.log(np.array(pooled["outing_h"]))
    return {
        "source": "household-power, development months of evaluation.welfare_real.SPLITS",
        "use_w": USE_W,
        "wake_weekday_h": _robust(pooled["wake_weekday"]),
        "wake_weekend_h": _robust(pooled["wake_weekend"]),
        "bed_h": _robust(pooled["bed"]),
        "uses_per_hour": _robust(pooled["uses_per_hour"]),
        "outing_h_lognormal": {"mu": round(float(outing.mean()), 3),
                               "sigma": round(float(outing.std()), 3), "n": int(outing.size)},
        "kettle_w": round(float(np.median(kettle)), 0),
        "microwave_w": round(float(np.median(micro)), 0),
        "left_on_share": round(float(np.mean(pooled["left_on"])), 3),
        "left_on_days": len(pooled["left_on"]),
    }


def main() -> int:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_data_dir()
    fitted = fit(data_dir)
    OUT.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(fitted))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
