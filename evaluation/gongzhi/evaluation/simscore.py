"""Scores a simulated run's alarms against its ground truth, per ticket kind.

Matching: an alarm answers a ground-truth line when it has the line's expected kind on one of
the line's devices (on its building, for an offline cluster; for a fire, one of the detectors
its evidence names will do: the fusion confirms a floor, whichever detector it names first), or
one of the line's ``also`` kinds on one of its devices, and is raised between the fault's start
and its end plus ``GRACE_MS``. Every line with an expected ticket counts for recall, whichever
way it went: one still open at the end of the run (its window not closed) is found if answered
and missed if not, and ``open_at_end`` says how many there were.

- recall per kind: lines answered / lines counted;
- precision per kind and overall: alarms raised that answer some line / alarms raised;
- delay per kind, from the fault's start in the ground truth (a fire's ignition, a charger's
  plug-in) to the first answering alarm: never from a moment derived from the detector's own
  settings;
- cooking fires: ``fire`` alarms that answer no line, raised on a floor where cooking smoke
  began in the previous ``COOKING_WINDOW_MS`` (the fusion's window); cooking smoke alarms:
  ``smoke_alarm`` alarms that answer no line, raised on a detector during its cooking smoke
  (nuisance alarms: the detector did see smoke; still false alarms for precision);
- false e-bike alarms per 1,000 household-days of the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.evaluation.simeval import SimRun

GRACE_MS = 15 * 60_000
COOKING_WINDOW_MS = 5 * 60_000
SMOKE_KINDS = ("fire", "smoke_alarm")


@dataclass(slots=True)
class KindScore:
    expected: int = 0
    found: int = 0
    raised: int = 0
    true_raised: int = 0
    open_at_end: int = 0
    delays_ms: list[int] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        return self.true_raised / self.raised if self.raised else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"expected": self.expected, "found": self.found,
                               "open_at_end": self.open_at_end, "raised": self.raised,
                               "true_raised": self.true_raised, "recall": _round(self.recall),
                               "precision": _round(self.precision)}
        if self.delays_ms:
            delays = self.delays_ms
            out["delay_s"] = {"p50": _seconds(np.median(delays)),
                              "p90": _seconds(np.quantile(delays, 0.9)),
                              "max": _seconds(max(delays))}
        return out


@dataclass(slots=True)
class Evaluation:
    by_kind: dict[str, KindScore]
    raised: int
    true_raised: int
    false_by_kind: Counter[str]
    cooking_spikes: int
    cooking_fires: int
    cooking_smoke_alarms: int
    household_days: float

    @property
    def precision(self) -> float | None:
        return self.true_raised / self.raised if self.raised else None

    def kind(self, name: str) -> KindScore:
        return self.by_kind.get(name, KindScore())

    def false_per_1000_household_days(self, kind: str) -> float | None:
        if not self.household_days:
            return None
        return 1000 * self.false_by_kind[kind] / self.household_days

    def to_dict(self) -> dict[str, Any]:
        return {"raised": self.raised, "true_raised": self.true_raised,
                "precision": _round(self.precision),
                "false_by_kind": dict(self.false_by_kind),
                "cooking_spikes": self.cooking_spikes, "cooking_fires": self.cooking_fires,
                "cooking_smoke_alarms": self.cooking_smoke_alarms,
                "household_days": round(self.household_days, 1),
                "by_kind": {k: v.to_dict() for k, v in sorted(self.by_kind.items())}}


def merged(evaluations: list[Evaluation]) -> Evaluation:
    """Several runs scored as one."""
    by_kind: dict[str, KindScore] = defaultdict(KindScore)
    for evaluation in evaluations:
        for kind, score in evaluation.by_kind.items():
            total = by_kind[kind]
            total.expected += score.expected
            total.found += score.found
            total.raised += score.raised
            total.true_raised += score.true_raised
            total.open_at_end += score.open_at_end
            total.delays_ms += score.delays_ms
    return Evaluation(
        by_kind=dict(by_kind), raised=sum(e.raised for e in evaluations),
        true_raised=sum(e.true_raised for e in evaluations),
        false_by_kind=sum((e.false_by_kind for e in evaluations), Counter()),
        cooking_spikes=sum(e.cooking_spikes for e in evaluations),
        cooking_fires=sum(e.cooking_fires for e in evaluations),
        cooking_smoke_alarms=sum(e.cooking_smoke_alarms for e in evaluations),
        household_days=sum(e.household_days for e in evaluations))


def answers(alarm: Alarm, line: dict[str, Any]) -> bool:
    if not line["start_ms"] <= alarm.ts_ms <= line["end_ms"] + GRACE_MS:
        return False
    expected = line["expected"]["kind"] if line["expected"] else None
    devices = line["devices"] or [line["device_id"]]
    if alarm.kind.value == expected:
        if line["device_id"] is None:  # a building's offline cluster
            return bool(alarm.building == line["building"])
        named = alarm.evidence.get("detectors", []) if alarm.kind is AlarmKind.FIRE else []
        return alarm.device_id in devices or any(d in devices for d in named)
    return alarm.kind.value in line["also"] and alarm.device_id in devices


class _TruthIndex:
    """Ground-truth lines by the devices (and buildings) their alarms may come from."""

    def __init__(self, truth: list[dict[str, Any]]) -> None:
        self.by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in truth:
            keys = {line["device_id"], *line["devices"]} - {None}
            if line["device_id"] is None:
                keys.add(f"building:{line['building']}")
            for key in keys:
                self.by_key[key].append(line)

    def candidates(self, alarm: Alarm) -> list[dict[str, Any]]:
        lines = list(self.by_key.get(alarm.device_id, []))
        if alarm.kind is AlarmKind.FIRE:
            for device in alarm.evidence.get("detectors", []):
                lines += self.by_key.get(device, [])
        if alarm.building is not None:
            lines = lines + self.by_key.get(f"building:{alarm.building}", [])
        return lines


def evaluate(result: SimRun) -> Evaluation:
    """Scores what came after the run's warm-up (``SimSpec.warmup_ms``)."""
    raised = result.raised
    truth = result.scored_truth
    index = _TruthIndex(truth)
    answered: dict[int, list[Alarm]] = defaultdict(list)  # id(line) -> alarms
    by_kind: dict[str, KindScore] = defaultdict(KindScore)
    false_by_kind: Counter[str] = Counter()
    false_fires: list[Alarm] = []
    false_smoke: list[Alarm] = []
    for alarm in raised:
        entry = by_kind[alarm.kind.value]
        entry.raised += 1
        matched = [line for line in index.candidates(alarm) if answers(alarm, line)]
        for line in matched:
            answered[id(line)].append(alarm)
        if matched:
            entry.true_raised += 1
        else:
            false_by_kind[alarm.kind.value] += 1
            if alarm.kind is AlarmKind.FIRE:
                false_fires.append(alarm)
            elif alarm.kind is AlarmKind.SMOKE_ALARM:
                false_smoke.append(alarm)
    for line in truth:
        if line["expected"] is None:
            continue
        kind = line["expected"]["kind"]
        hits = [a.ts_ms for a in answered.get(id(line), []) if a.kind.value == kind]
        entry = by_kind[kind]
        entry.expected += 1
        if line["end_ms"] + GRACE_MS > result.end_ms:
            entry.open_at_end += 1  # counted all the same, found or missed
        if hits:
            entry.found += 1
            entry.delays_ms.append(max(0, min(hits) - line["start_ms"]))
    cooking = [line for line in truth if line["fault"] == "cooking_smoke"]
    return Evaluation(
        by_kind=dict(by_kind), raised=len(raised),
        true_raised=sum(v.true_raised for v in by_kind.values()),
        false_by_kind=false_by_kind, cooking_spikes=len(cooking),
        cooking_fires=_cooking_fires(result, false_fires, cooking),
        cooking_smoke_alarms=_during_cooking(false_smoke, cooking),
        household_days=result.household_days)


def _during_cooking(alarms: list[Alarm], cooking: list[dict[str, Any]]) -> int:
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for line in cooking:
        spans[line["device_id"]].append((line["start_ms"], line["end_ms"]))
    return sum(1 for alarm in alarms
               if any(start <= alarm.ts_ms <= end for start, end in spans.get(alarm.device_id, [])))


def _cooking_fires(result: SimRun, false_fires: list[Alarm],
                   cooking: list[dict[str, Any]]) -> int:
    floor_of = {r.device_id: (r.location.building, r.location.unit, r.location.floor)
                for r in result.registry}
    spikes: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for line in cooking:
        spikes[floor_of[line["device_id"]]].append(line["start_ms"])
    return sum(1 for alarm in false_fires
               if any(0 <= alarm.ts_ms - start <= COOKING_WINDOW_MS
                      for start in spikes.get(floor_of.get(alarm.device_id, ("", "", "")), [])))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(ms: float) -> float:
    return round(float(ms) / 1000, 1)
