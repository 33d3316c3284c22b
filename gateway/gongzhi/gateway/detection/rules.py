"""Which telemetry rules run on which device type: the catalogue's thresholds and rates, then
the learned and signature rules of this package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.devices.catalogue import DeviceSpec, DeviceType, Op, spec_for
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.baseline import BASELINES, BaselineDetector
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.drift import RiserDriftDetector
from gongzhi.gateway.detection.ebike import EbikeChargingDetector
from gongzhi.gateway.detection.faults import (
    FLATLINE_METRICS,
    PLAUSIBLE,
    FlatlineDetector,
    PlausibleRangeDetector,
)
from gongzhi.gateway.detection.fusion import FireFusion
from gongzhi.gateway.detection.leak import FlowDetector, VolumeDetector
from gongzhi.gateway.detection.multivariate import ThermalResidualDetector
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.rates import RateDetector
from gongzhi.gateway.detection.thresholds import ThresholdDetector, per_device
from gongzhi.gateway.detection.track import FloatArray, IntArray, Move


class TelemetryRule(Protocol):
    @property
    def nbytes(self) -> int: ...

    def observe(self, obs: Observations) -> list[Alarm]: ...


class RowRule(TelemetryRule, Protocol):
    """A rule whose reports are each its device's alone (``row_wise``)."""

    def observe_moves(self, obs: Observations) -> list[Move]:
        """``observe``'s alarms, each with its row in ``obs`` and its state."""
        ...


def row_wise(rule: TelemetryRule) -> bool:
    """Whether ``rule`` may take the rows of many rounds in one call, in round order (its
    ``row_wise``): it changes its state report by report, each report its device's alone (no
    device's report reads another's of the round), skips what a report does not carry, and
    gives each alarm's row (``RowRule``). Such a rule gives the same state and alarms either
    way, and a batch of one device's many rows is one call, not one a row. A rule that reads
    another's alarm (``explained_by``) comes after it and reads what it left per row
    (``Observations.raised``)."""
    return bool(getattr(rule, "row_wise", False))


def takes_rounds(rule: TelemetryRule) -> bool:
    """Whether ``rule`` may take the rows of many rounds in one call, taking each round as one
    (its ``takes_rounds``; ``Observations.round_starts``): it reads a round's reports together
    (a riser's gauges), so it cannot take them report by report (``row_wise``), and gives each
    alarm's row (``RowRule``)."""
    return bool(getattr(rule, "takes_rounds", False))


def has_work(rule: TelemetryRule) -> bool:
    """Whether ``rule`` can change anything on its registry (its ``has_work``; a rule that does
    not say can): one that cannot is not run. (It stays among the rules, so a registry reload
    finds the same rules in the same places.)"""
    return bool(getattr(rule, "has_work", True))


def reads(rule: TelemetryRule) -> tuple[str, ...]:
    """The metrics ``rule`` reads from every observation it uses (its ``reads``): in a round
    where one of them is reported by no device the rule would change nothing and raise
    nothing, so it is not run. () for a rule that runs on every round."""
    return tuple(getattr(rule, "reads", ()))


def peer_groups(rule: TelemetryRule) -> IntArray | None:
    """Per device of the rule's group, the group whose reports the rule reads together (its
    ``peer_groups``: -1 for a device read alone); None for a rule that reads every device alone
    (``peers``)."""
    groups: IntArray | None = getattr(rule, "peer_groups", None)
    return groups


def _high_threshold(spec: DeviceSpec, metric: str,
                    records: Sequence[DeviceRecord]) -> FloatArray | None:
    """The per-device ABOVE threshold of ``metric``, if the catalogue has one."""
    for rule in spec.thresholds:
        if rule.metric == metric and rule.op is Op.ABOVE:
            return per_device(records, rule.setting, rule.threshold)
    return None


def build_rules(device_type: DeviceType, records: Sequence[DeviceRecord], members: IntArray,
                index: DeviceIndex, config: DetectionConfig
                ) -> tuple[list[TelemetryRule], FireFusion | None]:
    spec = spec_for(device_type)
    hold = config.clear_hold_ms
    args = (records, members, index, hold)
    thresholds = [ThresholdDetector(r, *args) for r in spec.thresholds]
    rules: list[TelemetryRule] = [
        *thresholds,
        *(RateDetector(r, *args, ceiling=_high_threshold(spec, r.metric, records))
          for r in spec.rates),
        *(BaselineDetector(r, *args) for r in BASELINES.get(device_type, ())),
        *(FlatlineDetector(m, *args, explained_by=[t.track for t in thresholds
                                                    if t.rule.metric == m[0]])
          for m in FLATLINE_METRICS.get(device_type, ())),
        *(PlausibleRangeDetector(b, *args) for b in PLAUSIBLE.get(device_type, ())),
        *(FlowDetector(r, *args) for r in spec.flows),
        *(VolumeDetector(r, *args) for r in spec.volumes),
    ]
    if device_type is DeviceType.WATER_PRESSURE:
        rules.append(RiserDriftDetector(*args))
    if device_type is DeviceType.ELECTRICAL:
        rules += [EbikeChargingDetector(*args),
                  ThermalResidualDetector(*args)]
    fusion = None
    smoke_rules = [r for r in spec.thresholds if r.kind is AlarmKind.SMOKE_ALARM]
    if smoke_rules:
        rule = smoke_rules[0]
        fusion = FireFusion(records, members, index,
                            per_device(records, rule.setting, rule.threshold), config)
        rules.append(fusion)
    return rules, fusion
