"""A type group runs a rule only on rounds where every metric it reads was reported by some
device (``rules.reads``). Skipping must be invisible: over the reload tests' mixed fleet, with
metrics missing from many messages (a monitor that reports some of its metrics, rounds where
no device reports one), the alarms and every array of the engine are the same as when every
rule runs on every round."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from test_detection_reload import SPAN, STEP, feed, fleet, fleet_messages, snapshot, steps

from gongzhi.core.alarms import Alarm
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine, group
from gongzhi.gateway.messages import Telemetry


def sparse_messages() -> list[Any]:
    """The fleet's messages, each metric of a telemetry message dropped one time in three (at
    least one kept); the electrical monitors' voltage and cable temperature for whole days."""
    rng = np.random.default_rng(12)
    out: list[Any] = []
    for m in fleet_messages():
        if type(m) is Telemetry:
            names = list(m.values)
            keep = [n for n in names if rng.random() >= 1 / 3] or names[:1]
            day = (m.ts_ms // 86_400_000) % 2
            if day == 0:
                keep = [n for n in keep if n not in ("voltage_v", "cable_temp_c")] or keep[:1]
            m = dataclasses.replace(m, values={n: m.values[n] for n in keep})
        out.append(m)
    return out


def run(messages: list[Any]) -> tuple[list[Alarm], dict[str, bytes]]:
    engine = DetectionEngine(Registry(fleet()))
    alarms = feed(engine, steps(messages, SPAN, every_s=STEP))
    return alarms, snapshot(engine)


def test_skipping_rules_on_unreported_metrics_changes_no_alarm_and_no_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    messages = sparse_messages()
    skipping = run(messages)
    monkeypatch.setattr(group, "reads", lambda rule: ())  # every rule on every round
    every_round = run(messages)
    assert [a.to_dict() for a in skipping[0]] == [a.to_dict() for a in every_round[0]]
    assert skipping[0], "the sparse fleet raises alarms"
    changed = [k for k in every_round[1] if skipping[1].get(k) != every_round[1][k]]
    assert not changed
    assert skipping[1].keys() == every_round[1].keys()
