"""The e-bike bench lines on real homes: ``real_ebike_false_per_1000_household_days`` (with the
appliances responsible) and ``real_ebike_recall`` (with the delay), measured on the held-out
report house; the development house's figures beside them, since settings were chosen there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gongzhi.evaluation.ebike_false import FalseAlarmResult, false_alarms
from gongzhi.evaluation.ebike_recall import EVENING_H, HOURS, LEVEL_W, play_charges
from gongzhi.evaluation.household import DEVELOPMENT, REPORT

# The report figure's charges: the median over three seeds. Settings were chosen on the
# development house with DEVELOPMENT_SEED's charges.
RECALL_SEEDS = (20_260_101, 20_260_102, 20_260_103)
DEVELOPMENT_SEED = 7
CHARGES_PER_HOUSE = 100

DATA = {
    "UKDALE_House2": "UK-DALE house 2 (London), 1-minute whole-house power, May-Oct 2013",
    "REFIT_House2": "REFIT house 2 (Loughborough), 1-minute whole-house power, Oct 2013-Jan 2015",
}


def _context(result: FalseAlarmResult) -> dict[str, Any]:
    return {"value": round(result.per_1000_days, 1), **result.context()}


def false_alarm_line(data_dir: Path) -> dict[str, Any]:
    started = time.process_time()
    report = false_alarms(data_dir, REPORT)
    dev = false_alarms(data_dir, DEVELOPMENT)
    return {"name": "real_ebike_false_per_1000_household_days",
            "value": round(report.per_1000_days, 1), "unit": "per 1000 household-days",
            "data": "real: " + "; ".join(DATA[h] for h in REPORT) + " (held out)",
            "alarms": len(report.alarms), "household_days": round(report.household_days, 1),
            "by_appliance": report.by_appliance(),
            "settings_chosen_on": "other houses: " + ", ".join(DEVELOPMENT) + " (development)",
            "development": _context(dev), "goal": "<= 1",
            "engine": "gongzhi backtest path: the gateway's DetectionEngine, default "
                      "configuration, one household monitor (power_w, current_a) a minute",
            "cpu_s": round(time.process_time() - started, 1)}


def recall_line(data_dir: Path) -> dict[str, Any]:
    """The median over the report seeds (each its own random charges), the spread beside it."""
    started = time.process_time()
    runs = sorted((play_charges(data_dir, REPORT, CHARGES_PER_HOUSE, seed)
                   for seed in RECALL_SEEDS), key=lambda r: r.recall)
    report = runs[len(runs) // 2]
    dev = play_charges(data_dir, DEVELOPMENT, CHARGES_PER_HOUSE, DEVELOPMENT_SEED)
    ctx = report.context()
    return {"name": "real_ebike_recall", "value": round(report.recall, 3), "unit": "ratio",
            "runs": [round(r.recall, 3) for r in runs], "seeds": list(RECALL_SEEDS),
            "delay_min_p50": ctx["delay_min_p50"], "delay_min_max": ctx["delay_min_max"],
            "charges": ctx["charges"], "found": ctx["found"],
            "recall_by_shape": ctx["recall_by_shape"], "missed": ctx["missed"],
            "data": "real charger curves (ebike-chargers: 3 complete tapers) scaled to "
                    f"{LEVEL_W[0]:g}-{LEVEL_W[1]:g} W and {HOURS[0]:g}-{HOURS[1]:g} h, played "
                    f"into real household power at random times {EVENING_H[0]:g}:00-"
                    f"{EVENING_H[1]:g}:00 (median of seeds {', '.join(map(str, RECALL_SEEDS))}); "
                    "house: " + "; ".join(DATA[h] for h in REPORT) + " (held out)",
            "found_when": "an ebike_charging alarm raised between the plug-in and the end of "
                          "the taper, and either none in the same evening replayed without the "
                          "charge (from 1 h before to 1 h after) or its step within 15 min of "
                          "the plug-in",
            "settings_chosen_on": "other houses: " + ", ".join(DEVELOPMENT)
                                  + f" (development, seed {DEVELOPMENT_SEED})",
            "development": {"value": round(dev.recall, 3),
                            "delay_min_p50": dev.context()["delay_min_p50"],
                            "recall_by_shape": dev.context()["recall_by_shape"],
                            "charges": len(dev.charges), "seed": DEVELOPMENT_SEED},
            "goal": ">= 0.9", "cpu_s": round(time.process_time() - started, 1)}
