"""Detection benchmark: quality on public data and on the simulators' ground truth, and the
engine's speed and memory. One JSON object per line.

1. SKAB (when ../shared/data/skab exists): the multivariate detector fitted on each file's
   first 400 rows, one causal pass, one configuration: ``skab_f1``, ``skab_far_pct``,
   ``skab_mar_pct`` (point-wise over the rows after training, summed over labelled files) and
   ``skab_nab_standard`` (60 s window after each changepoint).
2. ``detect_msgs_per_s``: the engine alone on 100,000 devices (the demo estate's mix of
   types), batches of 10,000 telemetry messages, every rule on. In the same run, on the same
   messages, a plain Python loop doing only the catalogue's threshold checks with hysteresis
   and minimum duration (dict state per device and rule) is the baseline. Both are timed in
   CPU seconds of this process (the machine is shared; wall time is given too).
3. ``detect_bytes_per_device``: the engine's numpy state divided by the device count.
4. The simulators' ground truth, in process, on report seeds (``simeval.REPORT_SEEDS``; settings
   are chosen on ``DEVELOPMENT_SEEDS``): each run's messages decoded and deduplicated as
   the gateway does, fed to the engine, alarms matched with the ground truth
   (``gongzhi.evaluation.simscore``; every fault counts, those still open at the end too).
   Fault parameters are drawn (fires flaming or smouldering, cooking from seconds to minutes,
   chargers 100-400 W and 1-5 h). Runs (each line's context names them): the
   all-faults scenario on the small estate (its first 50 minutes); ``bench/scenarios/
   smoke-stress.yaml`` on the demo estate's 504 smoke detectors (2 h: 20 fires, 25 smoke alarms,
   1,200 cooking spikes, about 110 days' worth of the day scenario's cooking); and
   ``ebike-night.yaml`` on its 504 household and landing circuits (12:00 to 02:30, 40 chargers
   plugged in from 20:05: the detectors have watched the day before, as a running gateway has;
   a gateway started in the evening knows no circuit's quiet floor yet and misses more). The
   e-bike runs score after the detectors' warm-up (``SimSpec.warmup_ms``: the 6 h until a
   circuit's quiet floor is known, ``LoadFloor.QUIET_KNOWN_MS``): alarms whose step came
   before it are the warm-up's, and its household-days are not counted.
   ``--long`` replaces the last two with a simulated month of ``smoke-month.yaml`` and three
   seeds of a week of ``ebike-week.yaml`` (about an hour of CPU). Lines: ``sim_recall_fire``,
   ``sim_recall_smoke_alarm``, ``sim_delay_fire_p50_s`` (from ignition), ``sim_cooking_fires``
   (with the nuisance smoke alarms of cooking), ``sim_ebike_recall``,
   ``sim_ebike_false_per_1000_household_days`` and ``sim_precision`` (every run's alarms).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SKAB = ROOT.parent / "shared" / "data" / "skab"
SCENARIOS = ROOT / "bench" / "scenarios"
DEVICES = 100_000
BATCH = 10_000
ROUNDS = 4


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **context}), flush=True)


def bench_skab() -> None:
    from gongzhi.evaluation.analytics.detect_csv import Summary, detect_directory
    from gongzhi.evaluation.analytics.detector import MultivariateConfig

    if not SKAB.is_dir():
        print(json.dumps({"name": "skab_f1", "skipped": f"{SKAB} not found"}), flush=True)
        return
    config = MultivariateConfig()
    summary = Summary()
    started = time.perf_counter()
    for result in detect_directory(SKAB, config):
        summary.add(result, config.train_rows)
    d = summary.to_dict()
    context = {"data": "real: SKAB valve1 and anomaly-free", "tuned_on_this_data": True,
               "note": "the defaults are what cross-validation on these files chooses; "
                       "skab_cv_* (bench_detection_real.py) is the held-out measure",
               "files": d["files"], "labelled_files": d["labelled_files"],
               "anomaly_free_flagged_pct": d["unlabelled_flagged_pct"],
               "seconds": round(time.perf_counter() - started, 2),
               "goal": "f1 >= 0.80 with far <= 10 %"}
    emit("skab_f1", d["f1"], "ratio", **context)
    emit("skab_far_pct", d["far_pct"], "%", **context)
    emit("skab_mar_pct", d["mar_pct"], "%", **context)
    emit("skab_nab_standard", d["nab"]["standard"], "score", low_fp=d["nab"]["low_fp"],
         low_fn=d["nab"]["low_fn"], **context)


def fleet() -> tuple[Any, list[Any]]:
    from gongzhi.devices.catalogue import DeviceType
    from gongzhi.devices.registry import DeviceRecord, Location, Registry
    from gongzhi.gateway.messages import Telemetry

    rng = np.random.default_rng(7)
    kinds = rng.choice([DeviceType.SMOKE, DeviceType.ELECTRICAL, DeviceType.WATER_PRESSURE],
                       DEVICES, p=[0.47, 0.50, 0.03])
    records = [DeviceRecord(f"d{i:06d}", DeviceType(kinds[i]),
                            Location("e1", f"b{i // 1000}", str(i // 250 % 4),
                                     str(i // 10 % 25), str(i)),
                            household=f"h{i // 2}", riser=f"r{i // 100}")
               for i in range(DEVICES)]
    t0 = 1_767_225_600_000
    messages = []
    for k in range(ROUNDS):
        noise = rng.normal(0, 1, (DEVICES, 5))
        for i, r in enumerate(records):
            ts = t0 + k * 10_000 + i % 10_000
            if r.type is DeviceType.SMOKE:
                values = {"smoke_db_m": 0.01, "temp_c": 24 + noise[i, 0], "battery_pct": 90.0}
            elif r.type is DeviceType.ELECTRICAL:
                values = {"residual_ma": 60 + 5 * noise[i, 0], "cable_temp_c": 30 + noise[i, 1],
                          "current_a": 5 + noise[i, 2], "voltage_v": 220 + 2 * noise[i, 3],
                          "power_w": 1000 + 50 * noise[i, 4]}
            else:
                values = {"pressure_mpa": 0.3 + 0.002 * noise[i, 0]}
            messages.append(Telemetry(r.device_id, "e1", r.type, ts, values, ts))
    return Registry(records), messages


def python_thresholds(registry: Any, messages: list[Any]) -> float:
    """The baseline: the same threshold rules as a plain loop over messages."""
    from gongzhi.devices.catalogue import Op, spec_for

    rules = {r.device_id: [(rule, r.setting(rule.setting, rule.threshold) if rule.setting
                            else rule.threshold) for rule in spec_for(r.type).thresholds]
             for r in registry}
    state: dict[tuple[str, int], list[int]] = {}  # [active, pending_since]
    raised = 0
    started = time.process_time()
    for m in messages:
        for n, (rule, threshold) in enumerate(rules[m.device_id]):
            value = m.values.get(rule.metric)
            if value is None:
                continue
            if rule.op is Op.ABOVE:
                breach, clear = value >= threshold, value < threshold - rule.hysteresis
            elif rule.op is Op.BELOW:
                breach, clear = value <= threshold, value > threshold + rule.hysteresis
            else:
                high = rule.high if rule.high is not None else float("inf")
                breach = value < threshold or value > high
                clear = threshold + rule.hysteresis < value < high - rule.hysteresis
            s = state.setdefault((m.device_id, n), [0, -1])
            if not s[0]:
                if breach:
                    if s[1] < 0:
                        s[1] = m.ts_ms
                    if m.ts_ms - s[1] >= rule.hold_ms:
                        s[0], raised = 1, raised + 1
                else:
                    s[1] = -1
            elif clear:
                s[0] = 0
    return len(messages) / (time.process_time() - started)


def bench_engine() -> None:
    from gongzhi.gateway.detection import DetectionEngine

    registry, messages = fleet()
    engine = DetectionEngine(registry)
    warm, timed = messages[:DEVICES], messages[DEVICES:]
    for start in range(0, len(warm), BATCH):
        engine.process(warm[start:start + BATCH])
    started, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(timed), BATCH):
        engine.process(timed[start:start + BATCH])
    engine_rate = len(timed) / (time.process_time() - started)
    wall_rate = len(timed) / (time.perf_counter() - wall)
    baseline = python_thresholds(registry, timed)
    emit("detect_msgs_per_s", round(engine_rate), "msg/s", devices=DEVICES, batch=BATCH,
         basis="cpu seconds", wall_msgs_per_s=round(wall_rate),
         rules="all (thresholds, rate, baseline, faults, drift, e-bike, thermal, fire fusion)",
         python_threshold_loop_msgs_per_s=round(baseline),
         ratio_vs_python_threshold_loop=round(engine_rate / baseline, 2),
         goal=">= 200,000 msg/s on one core")
    emit("detect_bytes_per_device", round(engine.state_nbytes / DEVICES, 1), "bytes",
         devices=DEVICES, scope="numpy state of every rule and of presence; excludes the "
                                "registry and the id-to-slot lookup", goal="<= 1 KB")


def sim_specs(long: bool) -> dict[str, Any]:
    """The simulated runs: name -> SimSpec, on report seeds only (no setting was chosen on
    them). Each keeps the device types its goal is about, so the decoder's time goes to the
    devices that matter (the rest of the estate is left out)."""
    from gongzhi.devices.catalogue import DeviceType
    from gongzhi.evaluation.simeval import MIDNIGHT_MS, REPORT_SEEDS, SimSpec
    from gongzhi.gateway.detection.loadfloor import LoadFloor

    hour = 3_600_000
    warmup = LoadFloor.QUIET_KNOWN_MS  # the e-bike rule's: until the quiet floor is known
    smoke, electrical = {DeviceType.SMOKE}, {DeviceType.ELECTRICAL}
    seed = REPORT_SEEDS[0]
    specs = {"all-faults": SimSpec("small", "all-faults", 50 * 60_000, seed=seed,
                                   start_ms=MIDNIGHT_MS + 8 * hour)}
    if long:
        specs["smoke"] = SimSpec("demo", SCENARIOS / "smoke-month.yaml", 30 * 24 * hour,
                                 seed=seed, device_types=smoke, step_ms=30_000)
        for n in REPORT_SEEDS:
            specs[f"ebike-{n}"] = SimSpec("demo", SCENARIOS / "ebike-week.yaml", 7 * 24 * hour,
                                          seed=n, device_types=electrical, step_ms=30_000,
                                          warmup_ms=warmup)
    else:
        specs["smoke"] = SimSpec("demo", SCENARIOS / "smoke-stress.yaml", 2 * hour, seed=seed,
                                 start_ms=MIDNIGHT_MS + 10 * hour, device_types=smoke)
        specs["ebike"] = SimSpec("demo", SCENARIOS / "ebike-night.yaml", round(14.5 * hour),
                                 seed=seed, start_ms=MIDNIGHT_MS + 12 * hour,
                                 device_types=electrical, warmup_ms=warmup)
    return specs


def bench_simulated(long: bool) -> None:
    from gongzhi.evaluation.simeval import DEVELOPMENT_SEEDS, REPORT_SEEDS, run
    from gongzhi.evaluation.simscore import evaluate, merged

    started = time.process_time()
    evaluations, runs = {}, {}
    for name, spec in sim_specs(long).items():
        begun = time.process_time()
        result = run(spec)
        evaluations[name] = evaluate(result)
        runs[name] = {**spec.describe(), "messages": result.messages,
                      "cpu_s": round(time.process_time() - begun, 1)}
    ebike = merged([e for n, e in evaluations.items() if n.startswith("ebike")])
    smoke = merged([evaluations["all-faults"], evaluations["smoke"]])
    overall = merged(list(evaluations.values()))
    smoke_runs = {n: runs[n] for n in ("all-faults", "smoke")}
    ebike_runs = {n: r for n, r in runs.items() if n.startswith("ebike")}
    fire, alarm = smoke.kind("fire"), smoke.kind("smoke_alarm")
    data = {"data": "simulated (gongzhi.simulators), report seeds", "report_seeds":
            list(REPORT_SEEDS), "development_seeds": list(DEVELOPMENT_SEEDS),
            "tuned_on_this_data": False}
    emit("sim_recall_fire", fire.recall, "ratio", found=fire.found, expected=fire.expected,
         open_at_end=fire.open_at_end, runs=smoke_runs, goal="1.0", **data)
    emit("sim_recall_smoke_alarm", alarm.recall, "ratio", found=alarm.found,
         expected=alarm.expected, open_at_end=alarm.open_at_end, runs=smoke_runs, goal="1.0",
         **data)
    emit("sim_delay_fire_p50_s", fire.to_dict().get("delay_s", {}).get("p50"), "s",
         reference="the fire's ignition in the ground truth (flaming and smouldering fires)",
         fire=fire.to_dict(), smoke_alarm=alarm.to_dict(), runs=smoke_runs, **data)
    emit("sim_cooking_fires", smoke.cooking_fires, "count", cooking_spikes=smoke.cooking_spikes,
         cooking_smoke_alarms=smoke.cooking_smoke_alarms,
         false_fires=smoke.false_by_kind["fire"], runs=smoke_runs, goal="0", **data)
    e = ebike.kind("ebike_charging")
    emit("sim_ebike_recall", e.recall, "ratio", found=e.found, expected=e.expected,
         open_at_end=e.open_at_end,
         delay_h={k: round(v / 3600, 2) for k, v in e.to_dict().get("delay_s", {}).items()},
         runs=ebike_runs, goal=">= 0.95", **data)
    emit("sim_ebike_false_per_1000_household_days",
         round(ebike.false_per_1000_household_days("ebike_charging") or 0.0, 3), "per 1000 hd",
         false=ebike.false_by_kind["ebike_charging"],
         household_days=round(ebike.household_days, 1), runs=ebike_runs, goal="<= 1", **data)
    emit("sim_precision", overall.precision, "ratio", raised=overall.raised,
         false_by_kind=dict(overall.false_by_kind),
         by_run={n: {"raised": v.raised, "precision": v.precision}
                 for n, v in evaluations.items()},
         runs=runs, cpu_s=round(time.process_time() - started, 1), goal=">= 0.99", **data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true",
                        help="simulated month and weeks instead of the short runs (an hour)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    bench_skab()
    bench_engine()
    bench_simulated(args.long)
    return 0


if __name__ == "__main__":
    sys.exit(main())
