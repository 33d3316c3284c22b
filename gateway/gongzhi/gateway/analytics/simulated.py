"""Detection measured against the simulators' ground truth, in process: a simulated estate's
messages go through the gateway's decoder and duplicate filter into the detection engine, and
the raised alarms are matched with the faults the simulator injected.

Matching: an alarm answers a ground-truth line when it has the expected kind on the expected
device (or building, for clusters) and is raised between the fault's start and its end plus
``GRACE_MS``; an alarm of one of the line's ``also`` kinds on one of its ``devices`` is
legitimate too. Recall per kind counts the lines answered; precision counts raised alarms that
answer some line; delay is from the fault's start to the first answering alarm.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.registry import Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.dedup import ArrivalTracker
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.messages import DeviceMessage, RawMessage, StatusChange
from gongzhi.simulators.engine import SimulationEngine
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.layout import build_layout
from gongzhi.simulators.outgoing import OFFLINE, Link, LinkAction, status_topic
from gongzhi.simulators.scenario import load_scenario

STEP_MS = 5_000
GRACE_MS = 15 * 60_000
START_MS = 1_767_196_800_000  # 2025-12-31T16:00Z: midnight in the estates' UTC+8


@dataclass(slots=True)
class KindScore:
    expected: int = 0
    found: int = 0
    delays_ms: list[int] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0


@dataclass(slots=True)
class SimulatedRun:
    alarms: list[Alarm]
    truth: list[dict[str, Any]]
    messages: int
    rejected: int
    by_kind: dict[str, KindScore] = field(default_factory=dict)
    raised: int = 0
    true_raised: int = 0
    false_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.true_raised / self.raised if self.raised else 1.0


def simulate(estate: str, scenario: str, duration_ms: int, seed: int = 0) -> SimulatedRun:
    layout = build_layout(load_estate_file(estate), seed)
    registry = Registry(d.record for d in layout.devices)
    sim = SimulationEngine(layout, load_scenario(scenario), START_MS, seed,
                           ManualClock(START_MS))
    decoder, arrivals, engine = Decoder(registry), ArrivalTracker(), DetectionEngine(registry)
    alarms: list[Alarm] = []
    truth: list[dict[str, Any]] = []
    messages = rejected = 0
    t = START_MS
    while t < START_MS + duration_ms:
        t += STEP_MS
        batch: list[DeviceMessage] = []
        for out in sim.advance(t):
            if isinstance(out, Link):
                if out.action is LinkAction.DROP:  # the broker publishes the last will
                    record = sim.record(out.device)
                    raw = RawMessage(status_topic(record.estate_id, record.device_id),
                                     OFFLINE, t)
                else:
                    continue
            else:
                raw = RawMessage(out.topic, out.payload, t)
            messages += 1
            try:
                decoded = decoder.decode(raw)
            except RejectedMessage:
                rejected += 1
                continue
            for message in decoded:
                if isinstance(message, StatusChange) or not arrivals.is_duplicate(
                        message.device_id, message.seq, message.ts_ms):
                    batch.append(message)
        alarms += engine.process(batch)
        alarms += engine.tick(t)
        truth += [r.to_dict() for r in sim.take_truth()]
    return score(SimulatedRun(alarms, truth, messages, rejected))


def _answers(alarm: Alarm, line: dict[str, Any]) -> bool:
    if not line["start_ms"] <= alarm.ts_ms <= line["end_ms"] + GRACE_MS:
        return False
    expected = line["expected"]["kind"] if line["expected"] else None
    if alarm.kind.value == expected:
        if alarm.building is not None:
            return bool(alarm.building == line["building"])
        return alarm.device_id == line["device_id"] or alarm.device_id in line["devices"]
    return alarm.kind.value in line["also"] and alarm.device_id in (
        line["devices"] or [line["device_id"]])


def score(run: SimulatedRun) -> SimulatedRun:
    raised = [a for a in run.alarms if a.state is AlarmState.RAISE]
    by_kind: dict[str, KindScore] = defaultdict(KindScore)
    for line in run.truth:
        if line["expected"] is None:
            continue
        kind = line["expected"]["kind"]
        entry = by_kind[kind]
        entry.expected += 1
        hits = [a.ts_ms for a in raised
                if a.kind.value == kind and _answers(a, line)]
        if hits:
            entry.found += 1
            entry.delays_ms.append(max(0, min(hits) - line["start_ms"]))
    run.by_kind = dict(by_kind)
    run.raised = len(raised)
    for alarm in raised:
        if any(_answers(alarm, line) for line in run.truth):
            run.true_raised += 1
        else:
            run.false_by_kind[alarm.kind.value] += 1
    return run
