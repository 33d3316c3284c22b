"""Backtest benchmark: ``gongzhi backtest`` end to end (read the CSV files, replay through the
gateway's engine, write the alarms), rows per second, median of 3 runs with their spread. One JSON
object per line.

1. ``backtest_rows_per_s``: 5,000 household circuit monitors (``power_w``, ``current_a``,
   ``voltage_v``) reporting every 10 s for 20 minutes: 600,000 rows, about 500 rows per second
   of data (the engine is vectorized over the devices of a second).
2. ``backtest_rows_per_s_one_device``: one monitor once a minute for 5 days (7,200 rows): every
   batch holds one row, so the engine's cost per batch, not per row, sets the pace.
3. ``backtest_rows_per_s_household``: the same with ``power_w`` and ``current_a`` only, the shape
   of a real household's recording replayed (shared/data/household-power: one monitor, one row a
   minute, no voltage).
4. ``backtest_rows_per_s_scattered``: 200 household monitors (``power_w``, ``current_a``) once
   a minute for 12 hours, each at its own second of the minute, as an estate's radio devices
   report: about 3 rows per second of data (144,000 rows).
5. ``backtest_rows_per_s_real_houses`` (when ../shared/data/household-power exists): the real
   houses' recordings, each house as one household monitor (``power_w``, ``current_a``, as
   ``gongzhi.evaluation.household`` plays them; UK-DALE house 2 and REFIT house 2, 687,660 rows
   a minute apart): a few households' real loads, where the e-bike rule follows candidates on
   about half the rows.
6. One device of each other shape, once a minute for 5 days (7,200 rows), as 2: every metric
   of a monitor (``backtest_rows_per_s_monitor_all_metrics``: the cable's thermal model, the
   leakage current), a smoke detector (``backtest_rows_per_s_smoke_detector``: smoke,
   temperature; fire fusion), a riser gauge on no riser (``backtest_rows_per_s_pressure_gauge``:
   the learned baseline, the rate of fall) and a water meter
   (``backtest_rows_per_s_water_meter``: the leak rules).
7. ``backtest_rows_per_s_risers``: 40 gauges on 4 risers once a minute for 2 days, each at its
   own second (115,200 rows): the drift rule reads each riser's gauges together.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

T0 = 1_767_225_600_000
RUNS = 3
REGISTRY = "device_id,type,estate_id,building,unit,floor,room,elderly_alone,report_interval_s"


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **context}), flush=True)


def write_estate(root: Path, devices: int, interval_s: int, duration_s: int,
                 voltage: bool = True, spread_ms: int = 9000) -> int:
    """``spread_ms``: each device starts at a random offset below it."""
    rng = np.random.default_rng(7)
    lines = [REGISTRY] + [f"em-{i},electrical,e1,b{i // 100},1,{i % 30},{i},0,{interval_s}"
                          for i in range(devices)]
    (root / "registry.csv").write_text("\n".join(lines) + "\n")
    data = root / "data"
    data.mkdir()
    steps = duration_s // interval_s
    for i in range(devices):
        start = T0 + int(rng.integers(0, spread_ms))
        ts = start + np.arange(steps, dtype=np.int64) * interval_s * 1000
        power = 200 + 50 * rng.standard_normal(steps).cumsum().clip(-3, 40)
        volts = 228 + rng.standard_normal(steps)
        body = "\n".join(f"{t},{p:.1f},{p / 230:.3f}" + (f",{v:.1f}" if voltage else "")
                         for t, p, v in zip(ts.tolist(), power.tolist(), volts.tolist(),
                                            strict=True))
        header = "ts,power_w,current_a" + (",voltage_v" if voltage else "")
        (data / f"em-{i}.csv").write_text(header + "\n" + body + "\n")
    return devices * steps


def write_shape(root: Path, device_type: str, metrics: dict[str, Any]) -> int:
    """One device of ``device_type`` once a minute for 5 days, each metric's value from its
    function of (time in s, random generator)."""
    rng = np.random.default_rng(11)
    steps = 5 * 1440
    t = np.arange(steps) * 60.0
    columns = {name: np.round(make(t, rng), 4) for name, make in metrics.items()}
    (root / "registry.csv").write_text(f"{REGISTRY}\nd1,{device_type},e1,b1,1,1,101,0,60\n")
    (root / "data").mkdir()
    body = "\n".join(f"{T0 + int(k) * 60_000}," + ",".join(repr(float(columns[m][k]))
                                                        for m in metrics)
                     for k in range(steps))
    (root / "data" / "d1.csv").write_text("ts," + ",".join(metrics) + "\n" + body + "\n")
    return steps


def daily(t: np.ndarray, low: float, high: float) -> np.ndarray:
    """Between ``low`` and ``high`` over the day."""
    result: np.ndarray = low + (high - low) * (0.5 + 0.5 * np.sin(2 * np.pi * t / 86_400))
    return result


SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "backtest_rows_per_s_monitor_all_metrics": ("electrical", {
        "power_w": lambda t, rng: daily(t, 300, 3000) + rng.normal(0, 50, t.size),
        "current_a": lambda t, rng: daily(t, 1.3, 13) + rng.normal(0, 0.2, t.size),
        "voltage_v": lambda t, rng: 228 + rng.normal(0, 1, t.size),
        "cable_temp_c": lambda t, rng: daily(t, 27, 36) + rng.normal(0, 0.3, t.size),
        "residual_ma": lambda t, rng: 12 + np.abs(rng.normal(0, 2, t.size))}),
    "backtest_rows_per_s_smoke_detector": ("smoke", {
        "smoke_db_m": lambda t, rng: np.abs(rng.normal(0, 0.005, t.size)),
        "temp_c": lambda t, rng: daily(t, 19, 24) + rng.normal(0, 0.1, t.size)}),
    "backtest_rows_per_s_pressure_gauge": ("water_pressure", {
        "pressure_mpa": lambda t, rng: daily(t, 0.26, 0.32) + rng.normal(0, 0.003, t.size)}),
    "backtest_rows_per_s_water_meter": ("water_meter", {
        "water_m3": lambda t, rng: 120 + np.cumsum(np.where(rng.random(t.size) < 0.1,
                                                            rng.exponential(0.002, t.size),
                                                            0.0))}),
}


def write_risers(root: Path) -> int:
    """40 gauges on 4 risers once a minute for 2 days, each at its own second, each offset by
    its own head over the riser's daily draw-down."""
    rng = np.random.default_rng(12)
    steps = 2 * 1440
    lines = [f"{REGISTRY},riser"]
    (root / "data").mkdir()
    for i in range(40):
        lines.append(f"p{i},water_pressure,e1,b{i // 10},1,{i % 10},{i},0,60,R{i // 10}")
        ts = T0 + int(rng.integers(0, 60_000)) + np.arange(steps, dtype=np.int64) * 60_000
        head = 0.02 * (i % 10)
        values = daily((ts - T0) / 1000, 0.26, 0.32) + head + rng.normal(0, 0.003, steps)
        body = "\n".join(f"{t},{v:.4f}" for t, v in zip(ts.tolist(), values.tolist(),
                                                       strict=True))
        (root / "data" / f"p{i}.csv").write_text("ts,pressure_mpa\n" + body + "\n")
    (root / "registry.csv").write_text("\n".join(lines) + "\n")
    return 40 * steps


def bench_shape(name: str, device_type: str, metrics: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_shape(root, device_type, metrics)
        measure(name, root, rows, devices=1, interval_s=60, device_type=device_type,
                metrics=", ".join(metrics))


def bench_risers(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_risers(root)
        measure(name, root, rows, devices=40, interval_s=60, risers=4,
                metrics="pressure_mpa")


def write_real_houses(root: Path, data: Path) -> int:
    """Each house of ``data``'s household-power as one monitor's CSV; the rows written."""
    from gongzhi.evaluation.household import HOUSES, VOLTS, load_recordings

    houses = [house for group in HOUSES.values() for house in group]
    lines = ["device_id,type,estate_id,building,unit,floor,room,elderly_alone,"
             "report_interval_s,household,position"]
    (root / "data").mkdir()
    rows = 0
    for house in houses:
        recordings = load_recordings(data, house)
        ts = np.concatenate([r.ts for r in recordings])
        power = np.concatenate([r.aggregate for r in recordings])
        current = np.round(power / VOLTS, 3)
        body = "\n".join(f"{t},{p!r},{c!r}" for t, p, c in zip(
            ts.tolist(), power.tolist(), current.tolist(), strict=True))
        (root / "data" / f"{house}.csv").write_text("ts,power_w,current_a\n" + body + "\n")
        lines.append(f"{house},electrical,real,{house},1,1,1,0,60,{house},household")
        rows += ts.size
    (root / "registry.csv").write_text("\n".join(lines) + "\n")
    return rows


def run_once(root: Path) -> tuple[float, float, dict[str, Any]]:
    from gongzhi.core.cli import main

    out = io.StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    with redirect_stdout(out):
        code = main(["backtest", "--registry", str(root / "registry.csv"), "--input",
                     str(root / "data"), "--output", str(root / "alarms.jsonl")])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if code != 0:
        raise SystemExit(f"backtest failed with {code}")
    return wall, cpu, json.loads(out.getvalue())


def bench(name: str, devices: int, interval_s: int, duration_s: int,
          voltage: bool = True, spread_ms: int = 9000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_estate(root, devices, interval_s, duration_s, voltage, spread_ms)
        measure(name, root, rows, devices=devices, interval_s=interval_s,
                metrics="power_w, current_a" + (", voltage_v" if voltage else ""))


def bench_real_houses(name: str) -> None:
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "household-power").is_dir():
        emit(name, None, "rows/s", skipped=f"no {data / 'household-power'}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_real_houses(root, data)
        measure(name, root, rows, devices=2, interval_s=60, metrics="power_w, current_a",
                data="real: UK-DALE house 2 and REFIT house 2 (household-power), each house "
                     "one monitor")


def measure(name: str, root: Path, rows: int, **context: Any) -> None:
    runs = [run_once(root) for _ in range(RUNS)]
    rates = sorted(rows / cpu for _, cpu, _ in runs)
    walls = sorted(rows / wall for wall, _, _ in runs)
    emit(name, round(statistics.median(rates)), "rows/s", runs=RUNS,
         min=round(rates[0]), max=round(rates[-1]), wall_median=round(statistics.median(walls)),
         timed="CPU seconds of this process (median of the runs); wall time beside",
         rows=rows, alarms=runs[0][2]["alarms"], **context,
         what="gongzhi backtest end to end: read the CSV files, replay through the gateway's "
              "engine, write the alarms")


def main() -> int:
    bench("backtest_rows_per_s", 5_000, 10, 1_200)
    bench("backtest_rows_per_s_one_device", 1, 60, 5 * 86_400)
    bench("backtest_rows_per_s_household", 1, 60, 5 * 86_400, voltage=False)
    bench("backtest_rows_per_s_scattered", 200, 60, 12 * 3_600, voltage=False, spread_ms=60_000)
    bench_real_houses("backtest_rows_per_s_real_houses")
    for name, (device_type, metrics) in SHAPES.items():
        bench_shape(name, device_type, metrics)
    bench_risers("backtest_rows_per_s_risers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
