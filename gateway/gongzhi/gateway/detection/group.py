"""The telemetry rules of one device type over its devices, fed in rounds: the k-th message
(in arrival order) of every device in a batch goes in round k, so each round is one vectorized
step per rule and a batch gives exactly the alarms of one-by-one processing. A message older
than the device's latest is skipped: late data never rewinds state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.fusion import FireFusion
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.rates import RateDetector
from gongzhi.gateway.detection.thresholds import ThresholdDetector, per_device
from gongzhi.gateway.detection.track import FloatArray, IntArray


class TelemetryRule(Protocol):
    @property
    def nbytes(self) -> int: ...

    def observe(self, obs: Observations) -> list[Alarm]: ...


def rounds(local: IntArray) -> list[IntArray]:
    """Row positions grouped so that each group has at most one row per device, in arrival
    order."""
    if local.size == 0:
        return []
    order = np.argsort(local, kind="stable")
    ordered = local[order]
    first = np.ones(order.size, np.bool_)
    first[1:] = ordered[1:] != ordered[:-1]
    if first.all():
        return [order]
    starts = np.flatnonzero(first)
    rank = np.arange(order.size) - starts[np.cumsum(first) - 1]
    return [order[rank == r] for r in range(int(rank.max()) + 1)]


class TypeGroup:
    def __init__(self, device_type: DeviceType, index: DeviceIndex,
                 config: DetectionConfig) -> None:
        spec = spec_for(device_type)
        self.metrics = tuple(spec.metrics)
        self.globals = index.members[device_type]
        records = [index.records[g] for g in self.globals]
        self.last_ts = np.full(len(records), np.iinfo(np.int64).min, np.int64)
        hold = config.clear_hold_ms
        self.rules: list[TelemetryRule] = [
            *(ThresholdDetector(r, records, self.globals, index, hold) for r in spec.thresholds),
            *(RateDetector(r, records, self.globals, index, hold) for r in spec.rates),
        ]
        self.fusion: FireFusion | None = None
        smoke_rules = [r for r in spec.thresholds if r.kind is AlarmKind.SMOKE_ALARM]
        if smoke_rules:
            rule = smoke_rules[0]
            self.fusion = FireFusion(records, self.globals, index,
                                     per_device(records, rule.setting, rule.threshold), config)
            self.rules.append(self.fusion)

    @property
    def nbytes(self) -> int:
        return self.last_ts.nbytes + sum(rule.nbytes for rule in self.rules)

    def process(self, local: IntArray, ts: IntArray, values: FloatArray) -> list[Alarm]:
        """``values``: one row per message, one column per metric of the type (NaN: absent)."""
        alarms: list[Alarm] = []
        for rows in rounds(local):
            rows = rows[ts[rows] >= self.last_ts[local[rows]]]
            if rows.size == 0:
                continue
            slots, times = local[rows], ts[rows]
            self.last_ts[slots] = times
            block = values[rows]
            obs = Observations(slots, times, {m: block[:, j] for j, m in enumerate(self.metrics)})
            for rule in self.rules:
                alarms += rule.observe(obs)
        return alarms


def metric_rows(metrics: Sequence[str], values: Sequence[dict[str, float]]) -> FloatArray:
    nan = float("nan")
    return np.array([[v.get(m, nan) for m in metrics] for v in values], np.float64).reshape(
        len(values), len(metrics))
