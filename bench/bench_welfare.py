"""Passive care (docs/welfare.md): one JSON object per line.

- ``welfare_false_per_household_quarter``: the real homes of ../shared/data/household-power,
  each taken as an elderly person living alone (whole-house power as the household's monitor),
  over the held-out months of ``gongzhi.evaluation.welfare_real.SPLITS`` (settings chosen on the
  development months, whose figure is in the context). Every ``welfare_check`` raised there is a
  false alarm (nobody fell); each is listed with its day. Deterministic: one run.
  ``welfare_false_per_household_quarter_absences_declared``: the same, raises inside silences of
  at least 24 h (recognised afterwards from the data) taken as declared trips.
- ``welfare_detect_delay_h_p50``: simulated falls (``gongzhi.simulators.living``, report seeds
  only): each household learns four weeks, then its person falls at a time of day drawn from
  06:00-22:00; hours from the fall to the RAISE, median over households. Three runs of
  different report seeds: the median of the runs' medians, with their spread. Households with a
  monitor and a water meter; ``welfare_detect_delay_h_p50_power_only`` without the meter. Each
  run also gives the falls that left everything off (``p50_all_off``: these wait as a departure
  would) and those that left a light on apart.

- ``welfare_learn_at_start_ms_per_household_day``: a gateway started again learns its
  households from its recorded telemetry (``gongzhi.gateway.welfare_history``): one simulated
  household (development seed, a monitor at 1 min and a water meter) of 28 days in a real
  embedded store, read and replayed through a fresh engine; wall time per household-day, the
  median of three runs (CPU time beside it, and the machine's load).
- ``welfare_start_ms_per_household``: a gateway started again with its learned days kept
  (``gongzhi.gateway.welfare_records``): households of development seeds, each a monitor at 10 s
  (the default; the simulated minute's power repeated) and a water meter, learned from the
  stream over 28 days with their days kept, started again at 12:00 of the 29th day: the kept
  file read, each household put back and the embedded store's reports since 04:00 replayed. Wall
  time per household, the median of three runs with their spread; the replay of the whole
  recording (the start without kept days) measured apart on the same households, beside it.
  ``welfare_start_ms_per_household_1min``: the same with the monitor at 1 min;
  ``welfare_start_ms_per_household_0300``: at 10 s, started again at 03:00, the dearest hour
  (23 h of reports since the day began).

The first two run the engine's own welfare rule (``WelfareWatch``) on its own, fed the rows in time
order: the whole engine gives the same welfare alarms (tests/welfare/test_welfare_real.py) but
replays a year of one-minute data at a fraction of the speed.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RUNS = 3
PER_RUN = 30


def emit(name: str, value: float | None, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **context}), flush=True)


def bench_real() -> None:
    from gongzhi.evaluation.welfare_real import SPLITS, evaluate
    from gongzhi.gateway.detection.rhythm import RhythmSettings

    name = "welfare_false_per_household_quarter"
    if not (DATA / "household-power").is_dir():
        print(json.dumps({"name": name, "skipped": f"{DATA / 'household-power'} not found"}))
        return
    started = time.process_time()
    development = evaluate(DATA, "development", direct=True)
    report = evaluate(DATA, "report", direct=True)
    emit(name, round(report.per_household_quarter, 2), "alarms/household-quarter",
         data="real: UK-DALE house 2 and REFIT house 2 (household-power), held-out months",
         months={part: [list(s) for s in splits] for part, splits in SPLITS.items()},
         tuned_on_this_data=False, goal=1.0, settings=repr(RhythmSettings()),
         held_out=report.to_dict(),
         development={k: v for k, v in development.to_dict().items() if k != "days"}
         | {"days": development.to_dict()["days"]},
         episodes_per_household_quarter=round(
             report.episodes / report.household_months * 3, 2),
         cpu_s=round(time.process_time() - started, 1))
    # Not the main figure: what is left if every multi-day absence (>= 24 h without a sign of
    # life, recognised afterwards from the data) had been declared, as an elderly household's
    # trips are declared to the committee.
    emit(f"{name}_absences_declared", round(report.per_household_quarter_absences_declared, 2),
         "alarms/household-quarter",
         data="real, held-out months, raises inside silences of >= 24 h taken as declared trips",
         tuned_on_this_data=False, goal=1.0,
         held_out_raises_left=report.outside_absences,
         days_left=[d for d in report.to_dict()["days"]  # type: ignore[attr-defined]
                    if not d["in_absence"]],
         development=round(development.per_household_quarter_absences_declared, 2))


def _delays(seeds: tuple[int, ...], water: bool) -> dict[str, Any]:
    from gongzhi.evaluation.welfare_sim import falls

    results = falls(seeds, water=water, engine=False)
    delays = [r.delay_h for r in results if r.delay_h is not None]
    off = [r.delay_h for r in results if r.delay_h is not None and not r.left_on]
    on = [r.delay_h for r in results if r.delay_h is not None and r.left_on]
    return {"p50": statistics.median(delays) if delays else None,
            "p50_all_off": statistics.median(off) if off else None,
            "p50_left_on": statistics.median(on) if on else None,
            "all_off_falls": len(off),
            "missed": sum(r.delay_h is None for r in results),
            "false_before": sum(r.false_before for r in results),
            "households": len(results)}


def bench_sim() -> None:
    from gongzhi.evaluation.welfare_sim import LEARN_DAYS
    from gongzhi.gateway.detection.rhythm import RhythmSettings
    from gongzhi.simulators.living import REPORT_SEEDS

    for name, water in (("welfare_detect_delay_h_p50", True),
                        ("welfare_detect_delay_h_p50_power_only", False)):
        started = time.process_time()
        runs = [_delays(REPORT_SEEDS[i * PER_RUN:(i + 1) * PER_RUN], water) for i in range(RUNS)]
        medians = [r["p50"] for r in runs if r["p50"] is not None]
        emit(name, round(statistics.median(medians), 2) if medians else None, "h",
             data=f"simulated: {RUNS} runs x {PER_RUN} households (report seeds "
                  f"{REPORT_SEEDS[0]}-{REPORT_SEEDS[RUNS * PER_RUN - 1]}), 4 weeks learned, "
                  "a fall at 06:00-22:00",
             runs=[{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
                   for r in runs],
             spread=[round(min(medians), 2), round(max(medians), 2)] if medians else None,
             # Before the fall every RAISE is false; the model is armed from its 22nd day on.
             false_before_fall=sum(r["false_before"] for r in runs),
             armed_household_days=sum(r["households"] for r in runs)
             * (LEARN_DAYS - RhythmSettings().min_days),
             tuned_on_this_data=False, cpu_s=round(time.process_time() - started, 1))


def bench_learn_at_start() -> None:
    import tempfile

    from gongzhi.devices.registry import Registry
    from gongzhi.evaluation.welfare_sim import (
        LEARN_DAYS,
        START_MS,
        household_records,
        household_series,
        telemetry_rows,
    )
    from gongzhi.gateway.detection.engine import DetectionEngine
    from gongzhi.gateway.telemetry_store import TelemetryStore
    from gongzhi.gateway.welfare_history import learn_from_history
    from gongzhi.simulators.living import DAY_MS, DEVELOPMENT_SEEDS, simulate
    from gongzhi.telemetry.embedded import EmbeddedReader

    registry = Registry(household_records("h1"))
    living = simulate(DEVELOPMENT_SEEDS[0], START_MS, LEARN_DAYS)
    rows = telemetry_rows(registry, household_series("h1", living))
    now = START_MS + LEARN_DAYS * DAY_MS
    walls: list[float] = []
    cpus: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "telemetry.db"
        writer = TelemetryStore(path, retention_days=60)
        writer.open()
        writer.write(rows, now)
        writer.close()
        for _ in range(RUNS):
            engine = DetectionEngine(registry)
            started, cpu = time.perf_counter(), time.process_time()
            with EmbeddedReader(path) as reader:
                learned = learn_from_history(engine, reader, registry, now)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
    per_day = [w * 1000 / learned.days for w in walls]
    emit("welfare_learn_at_start_ms_per_household_day", round(statistics.median(per_day), 1),
         "ms", data=f"simulated: seed {DEVELOPMENT_SEEDS[0]}, {learned.days} days, "
                    f"{learned.reports} reports (monitor 1/min, water meter 1/15 min), "
                    "embedded store",
         runs=[round(d, 1) for d in per_day],
         cpu_ms_per_household_day=round(statistics.median(cpus) * 1000 / learned.days, 1),
         load_1min=round(os.getloadavg()[0], 2))


START_HOUSEHOLDS = 4


def _finer(series: Any, step_s: int) -> Any:
    """A monitor's series at ``step_s``: each minute's reading repeated (a monitor reporting
    every ``step_s`` whose load changes at the minute)."""
    import numpy as np

    from gongzhi.gateway.backtest.series import DeviceSeries

    k = 60 // step_s
    ts = (np.repeat(series.ts, k) + np.tile(np.arange(k) * step_s * 1000, len(series.ts)))
    return DeviceSeries(series.device_id, ts.astype(np.int64),
                        {name: np.repeat(v, k) for name, v in series.values.items()})


def _timed_starts(registry: Any, telemetry: Path, kept: Path | None, now: int,
                  ) -> tuple[list[float], list[float], Any]:
    """Three starts of a fresh engine at ``now``: wall and CPU seconds, the last ``Learned``."""
    from gongzhi.gateway.detection.engine import DetectionEngine
    from gongzhi.gateway.welfare_history import learn_from_history
    from gongzhi.gateway.welfare_records import open_kept
    from gongzhi.telemetry.embedded import EmbeddedReader

    walls: list[float] = []
    cpus: list[float] = []
    learned = None
    for _ in range(RUNS):
        engine = DetectionEngine(registry)
        started, cpu = time.perf_counter(), time.process_time()
        opened = None if kept is None else open_kept(
            kept, engine.welfare_history_days, list(engine.welfare_households), now)
        with EmbeddedReader(telemetry) as reader:
            learned = learn_from_history(engine, reader, registry, now,
                                         saved=None if opened is None else opened.saved)
        if opened is not None:
            opened.records.close()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, learned


def bench_start_kept(monitor_s: int, name: str, hour: int = 12) -> None:
    import tempfile

    from gongzhi.devices.registry import Registry
    from gongzhi.evaluation.welfare_sim import (
        LEARN_DAYS,
        START_MS,
        household_records,
        household_series,
        telemetry_rows,
    )
    from gongzhi.gateway.detection.engine import DetectionEngine
    from gongzhi.gateway.telemetry_store import TelemetryStore
    from gongzhi.gateway.welfare_records import WelfareRecords
    from gongzhi.simulators.living import DAY_MS, DEVELOPMENT_SEEDS, HOUR_MS, simulate

    records = []
    rows = []
    for i, seed in enumerate(DEVELOPMENT_SEEDS[:START_HOUSEHOLDS]):
        mine = household_records(f"h{i}")
        series = household_series(f"h{i}", simulate(seed, START_MS, LEARN_DAYS + 2))
        if monitor_s < 60:
            series[0] = _finer(series[0], monitor_s)
        records += mine
        rows += telemetry_rows(Registry(mine), series)
    registry = Registry(records)
    # ``hour`` local (START_MS is midnight) of the day after the 28 days; 03:00 is still in it
    now = START_MS + LEARN_DAYS * DAY_MS + (hour + 24 * (hour < 4)) * HOUR_MS
    before = sorted((r for r in rows if r.ts_ms < now), key=lambda r: r.ts_ms)
    with tempfile.TemporaryDirectory() as tmp:
        telemetry, kept = Path(tmp) / "telemetry.db", Path(tmp) / "welfare.db"
        writer = TelemetryStore(telemetry, retention_days=60)
        writer.open()
        writer.write(before, now)
        writer.close()
        live = DetectionEngine(registry)  # the gateway before its stop: its days kept
        live.keep_welfare_days()
        store = WelfareRecords(kept, live.welfare_history_days)
        store.open()
        for i in range(0, len(before), 20_000):
            live.learn_welfare(before[i:i + 20_000])
            store.save(live.take_welfare_days())
        store.close()
        walls, cpus, resumed = _timed_starts(registry, telemetry, kept, now)
        old_walls, old_cpus, replayed = _timed_starts(registry, telemetry, None, now)
    n = START_HOUSEHOLDS
    per = sorted(w * 1000 / n for w in walls)
    old = sorted(w * 1000 / n for w in old_walls)
    emit(name, round(statistics.median(per), 1), "ms",
         data=f"simulated: development seeds {DEVELOPMENT_SEEDS[0]}-"
              f"{DEVELOPMENT_SEEDS[n - 1]}, {n} households (monitor every {monitor_s} s, "
              f"water meter 1/15 min), {LEARN_DAYS} days learned and kept, started again at "
              f"{hour:02d}:00, embedded store",
         runs=[round(x, 1) for x in per], spread=[round(per[0], 1), round(per[-1], 1)],
         cpu_ms_per_household=round(statistics.median(cpus) * 1000 / n, 1),
         reports_replayed_per_household=resumed.reports // n, resumed=resumed.resumed,
         replay_without_kept_days={
             "ms_per_household": round(statistics.median(old), 1),
             "runs": [round(x, 1) for x in old],
             "cpu_ms_per_household": round(statistics.median(old_cpus) * 1000 / n, 1),
             "reports_replayed_per_household": replayed.reports // n, "days": replayed.days},
         tuned_on_this_data=False, load_1min=round(os.getloadavg()[0], 2))


def main() -> int:
    bench_real()
    bench_sim()
    bench_learn_at_start()
    bench_start_kept(10, "welfare_start_ms_per_household")
    bench_start_kept(60, "welfare_start_ms_per_household_1min")
    bench_start_kept(10, "welfare_start_ms_per_household_0300", hour=3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
