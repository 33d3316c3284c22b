"""Detection on real recordings: one JSON object per line, figures on real data kept apart from
the choice of settings. Data from ../shared/data (relative to the repository's root); a missing
data set prints a line with ``skipped`` and its reason.

- ``real_fire_smoke_alarm_vs_photo_s``, ``real_fire_confirm_s``: NIST's five home fire tests
  (``nist-smoke-alarms/``), each room's smoke meter and ceiling thermocouple reported as that
  room's detector would, through the gateway's engine (``gongzhi.evaluation.nist``). Median
  over rooms of our ``smoke_alarm`` minus the room's first commercial photoelectric alarm;
  ``fire`` after the test's first ``smoke_alarm``, median over tests. Nothing was tuned on them.
- ``skab_cv_f1``, ``skab_cv_far_pct``: the SKAB detector under leave-one-file-out
  cross-validation (``gongzhi.evaluation.skab_cv``): settings chosen on the other files, the
  left-out file scored.
- ``real_ebike_false_per_1000_household_days`` (with the appliances responsible) and
  ``real_ebike_recall`` (with the delay): e-bike recognition on real homes
  (``household-power/``, ``ebike-chargers/``) through the backtest engine path
  (``gongzhi.evaluation.ebike_real``): measured on the held-out report house, settings chosen
  on the development house (its figures are in the context).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def emit(name: str, value: float | None, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **context}), flush=True)


def skipped(names: tuple[str, ...], directory: Path) -> bool:
    if directory.is_dir():
        return False
    for name in names:
        print(json.dumps({"name": name, "skipped": f"{directory} not found"}), flush=True)
    return True


def bench_real_fire() -> None:
    from gongzhi.evaluation.nist import DetectorModel, evaluate_directory

    directory = DATA / "nist-smoke-alarms"
    if skipped(("real_fire_smoke_alarm_vs_photo_s", "real_fire_confirm_s"), directory):
        return
    model = DetectorModel()
    started = time.process_time()
    evaluation = evaluate_directory(directory, model)
    summary = evaluation.to_dict()
    context = {"data": "real: NIST home smoke alarm tests SDC02, 05, 07, 10, 35 (5 fires)",
               "tuned_on_this_data": False, "detector_model": model.describe(),
               "engine": "the gateway's engine as gongzhi backtest runs it, default configuration",
               **summary["counts"],
               "cpu_s": round(time.process_time() - started, 2)}
    by_test = {t["test"]: t for t in summary["tests"]}
    emit("real_fire_smoke_alarm_vs_photo_s", summary["vs_photoelectric_s"]["median"], "s",
         statistic="median over rooms where both sounded (first photoelectric of the room)",
         vs_photoelectric_s=summary["vs_photoelectric_s"],
         vs_ionisation_s=summary["vs_ionisation_s"],
         by_test={k: v["rooms"] for k, v in by_test.items()}, goal="<= +10 s", **context)
    emit("real_fire_confirm_s", summary["confirm_s"]["median"], "s",
         statistic="median over tests of fire minus the test's first smoke_alarm",
         confirm_s=summary["confirm_s"],
         by_test={k: {"confirm_s": v["confirm_s"], "cause": v["fire_cause"]}
                  for k, v in by_test.items()}, goal="<= 30 s", **context)


def bench_skab_cv() -> None:
    from gongzhi.evaluation.skab_cv import FAR_LIMIT_PCT, GRID, cross_validate_directory

    directory = DATA / "skab"
    if skipped(("skab_cv_f1", "skab_cv_far_pct"), directory):
        return
    started = time.process_time()
    cv = cross_validate_directory(directory)
    d = cv.to_dict()
    context = {"data": "real: SKAB valve1 (16 labelled files) and anomaly-free",
               "protocol": "leave one file out: settings chosen on the other files (best F1 "
                           f"with FAR <= {FAR_LIMIT_PCT:g} %), the left-out file scored",
               "grid": {k: list(v) for k, v in GRID.items()}, "folds": d["folds"],
               "mar_pct": d["mar_pct"], "anomaly_free_flagged_pct": d["anomaly_free_flagged_pct"],
               "chosen": d["chosen"], "cpu_s": round(time.process_time() - started, 1),
               "published": "Conv-AE F1 0.78, FAR 13.55 % over all 34 files, offline",
               "goal": "f1 >= 0.80 with far <= 10 %"}
    emit("skab_cv_f1", d["f1"], "ratio", **context)
    emit("skab_cv_far_pct", d["far_pct"], "%", **context)


def bench_real_ebike() -> None:
    from gongzhi.evaluation.ebike_real import false_alarm_line, recall_line

    names = ("real_ebike_false_per_1000_household_days", "real_ebike_recall")
    if skipped(names, DATA / "household-power") or skipped(names, DATA / "ebike-chargers"):
        return
    for line in (false_alarm_line(DATA), recall_line(DATA)):
        print(json.dumps(line), flush=True)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    bench_real_ebike()
    bench_real_fire()
    bench_skab_cv()
    return 0


if __name__ == "__main__":
    sys.exit(main())
