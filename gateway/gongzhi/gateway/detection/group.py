"""The telemetry rules of one device type over its devices, fed in rounds: the k-th message
(in arrival order) of every device in a batch goes in round k. A rule takes a batch's rounds in
one call, in round order (``rules.row_wise``, ``rules.takes_rounds``), or one round at a time;
fire fusion takes the rows between the rounds where smoke alarms were raised, then those smoke
alarms. Either way the alarms and the state are those of taking the rounds one by one, in the
same order. A message older than the device's latest is skipped: late data never rewinds
state."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import pairwise
from operator import itemgetter
from typing import cast

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.fusion import FireFusion
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.rules import (
    RowRule,
    TelemetryRule,
    build_rules,
    has_work,
    peer_groups,
    reads,
    row_wise,
    takes_rounds,
)
from gongzhi.gateway.detection.track import BoolArray, FloatArray, IntArray


def runs(keys: IntArray) -> tuple[IntArray, IntArray]:
    """``keys``' stable sort order and, at each sorted position, how many earlier positions
    hold the same key (``rounds``; ``occurrence``)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(order.size, np.bool_)
    first[1:] = ordered[1:] != ordered[:-1]
    if first.all():  # every key once (a gateway's usual batch: every device once)
        return order, np.zeros(order.size, np.int64)
    starts = np.flatnonzero(first)
    return order, np.arange(order.size) - starts[np.cumsum(first) - 1]


def occurrence(keys: IntArray) -> IntArray:
    """For each position, how many earlier positions hold the same key."""
    order, rank = runs(keys)
    out = np.empty(keys.size, np.int64)
    out[order] = rank
    return out


def rounds(local: IntArray, rank: IntArray | None = None) -> tuple[IntArray, list[int]]:
    """Row positions in round order, and where each round begins in it (and where the last
    ends): each round has at most one row per device, in arrival order; within a round,
    devices in slot order. ``rank``: each row's round, when the caller sets them (at most one
    row per device in a round, a device's rows in increasing rounds; ``backtest.batches``);
    empty rounds are left out."""
    if rank is not None:
        order = np.lexsort((local, rank))
        bounds = np.unique(np.concatenate(([0], np.cumsum(np.bincount(rank)))))
        return order, bounds.tolist()
    if local.size <= 1:
        return np.zeros(local.size, np.int64), [0, local.size] if local.size else [0]
    order, ranked = runs(local)
    if not np.count_nonzero(ranked):
        return order, [0, order.size]
    # Stable by rank: within a round, devices in slot order (a batch of one device's many rows
    # is as many rounds, in time order).
    by_rank = order[np.argsort(ranked, kind="stable")]
    return by_rank, [0, *np.cumsum(np.bincount(ranked)).tolist()]


class TypeGroup(Stateful):
    DEVICE_STATE = ("last_ts",)
    DERIVED = ("globals",)
    NESTED = ("rules",)  # ``fusion`` is one of them

    def __init__(self, device_type: DeviceType, index: DeviceIndex,
                 config: DetectionConfig) -> None:
        spec = spec_for(device_type)
        self.metrics = tuple(spec.metrics)
        self.globals = index.members[device_type]
        records = [index.records[g] for g in self.globals]
        self.last_ts = np.full(len(records), np.iinfo(np.int64).min, np.int64)
        self.rules, self.fusion = build_rules(device_type, records, self.globals, index,
                                              config)
        # Each rule with the metrics it needs (column positions): most devices report some
        # of their type's metrics only (a household monitor: power and current), and a rule
        # over a metric nobody reported in a round has nothing to do.
        position = {m: j for j, m in enumerate(self.metrics)}
        # The rules that take a batch's rounds in one call (``rules.row_wise``,
        # ``rules.takes_rounds``), and the others, each with its place among the rules (a
        # round's alarms come in the rules' order); not those with nothing to do here.
        working = [(i, rule) for i, rule in enumerate(self.rules) if has_work(rule)]
        self._batched = [(i, cast(RowRule, rule)) for i, rule in working
                         if row_wise(rule) or takes_rounds(rule)]
        batched = {i for i, _ in self._batched}
        # The columns each rule reads, by place: with one of them reported nowhere in a batch
        # (a household monitor's voltage), a batched rule has nothing to do in it.
        self._reads = {i: [position[m] for m in reads(rule)] for i, rule in working}
        self._needs = [(i, rule, self._reads[i]) for i, rule in working
                       if i not in batched]
        self._position = position
        # By metrics reported: the rules run on a round, with their places.
        self._running: dict[tuple[bool, ...], list[tuple[int, TelemetryRule]]] = {}
        self._index = index

    def peer_groups(self) -> list[IntArray]:
        """Each rule's groups of devices read together (``rules.peer_groups``), by local slot."""
        return [g for g in map(peer_groups, self.rules) if g is not None]

    @property
    def nbytes(self) -> int:
        return self.last_ts.nbytes + sum(rule.nbytes for rule in self.rules)

    def process(self, local: IntArray, ts: IntArray, values: FloatArray,
                rank: IntArray | None = None) -> list[Alarm]:
        """``values``: one row per message, one column per metric of the type (NaN: absent);
        ``rank``: each row's round, if not by arrival (``rounds``)."""
        order, bounds = rounds(local, rank)
        if local.size > 1:  # (one message: the batch is its round)
            local, ts, values = local[order], ts[order], values.take(order, axis=0)
        keep = np.empty(local.size, np.bool_)
        if _keep_latest(self.last_ts, local, ts, keep) < local.size:
            rows = np.flatnonzero(keep)
            bounds = np.searchsorted(rows, bounds).tolist()  # (a round may be left empty)
            local, ts, values = local[rows], ts[rows], values.take(rows, axis=0)
        # The batched rules' alarms, by round: in a round, a rule's raises, then its clears.
        batched: dict[int, list[tuple[int, int, Alarm]]] = {}
        obs = Observations(local, ts, values, self._position,
                           starts=np.array(bounds, np.int64))
        anywhere = reported_anywhere(values)
        for i, row_rule in self._batched:
            if not all(anywhere[j] for j in self._reads[i]):
                continue
            for row, state, alarm in row_rule.observe_moves(obs):
                batched.setdefault(bisect_right(bounds, row) - 1, []).append(
                    (i, (state is AlarmState.CLEAR) * local.size + row, alarm))
        # (Every rule of the catalogue takes batches: round by round is for one that does not,
        # and is the reference the tests hold the batches to.)
        if not self._may_run(anywhere):
            by_round = {r: [a for *_, a in sorted(found, key=_placed)]
                        for r, found in batched.items()}
            if self.fusion is not None:
                self._fuse(obs, bounds, by_round)
            return [a for r in sorted(by_round) for a in by_round[r]]
        alarms: list[Alarm] = []
        for r, (start, end) in enumerate(pairwise(bounds)):
            if start == end:
                continue
            slots, times, block = local[start:end], ts[start:end], values[start:end]
            reported = tuple(reported_anywhere(block))
            running = self._running.get(reported)
            if running is None:
                running = self._running[reported] = [
                    (i, rule) for i, rule, needs in self._needs
                    if all(reported[j] for j in needs)]
            found: list[Alarm] = []
            if running or r in batched:
                obs = Observations(slots, times, block, self._position)
                placed = batched.get(r, [])
                for i, rule in running:
                    placed += [(i, k, alarm) for k, alarm in enumerate(rule.observe(obs))]
                found = [alarm for *_, alarm in sorted(placed, key=_placed)]
            # Each round's smoke alarms reach fire fusion before the next round's readings,
            # as they would one message at a time.
            if self.fusion is not None:
                found += fuse_smoke_alarms(self.fusion, self._index, found)
            alarms += found
        return alarms

    def _may_run(self, anywhere: list[bool]) -> bool:
        """Whether a rule taken round by round, but fire fusion (``_fuse``), could run on some
        round of a batch: all the metrics it reads reported somewhere in it (``anywhere``)."""
        return any(all(anywhere[j] for j in needs) for _, rule, needs in self._needs
                   if rule is not self.fusion)

    def _fuse(self, obs: Observations, bounds: list[int],
              by_round: dict[int, list[Alarm]]) -> None:
        """Fire fusion over a batch whose other rules took it at once (``by_round``: their
        alarms by round, in order; fusion's are added): fusion takes the rows up to the end of
        each round where a smoke alarm was raised, then that round's smoke alarms, as it would
        round by round; then the rest."""
        fusion = self.fusion
        assert fusion is not None
        taken = 0

        def take(stop: int) -> None:
            nonlocal taken
            for row, alarm in fusion.observe_rows(obs, taken, stop):
                by_round.setdefault(bisect_right(bounds, row) - 1, []).append(alarm)
            taken = stop

        for r in sorted(r for r, found in by_round.items() if any(map(_smoke_raised, found))):
            take(bounds[r + 1])
            by_round[r] += fuse_smoke_alarms(fusion, self._index, by_round[r])
        take(obs.local.size)


def reported_anywhere(values: FloatArray) -> list[bool]:
    """Per metric column of ``values``, whether any row reported it (not NaN)."""
    reported: list[bool] = np.logical_or.reduce(values == values, axis=0).tolist()
    return reported


def _placed(entry: tuple[int, int, Alarm]) -> tuple[int, int]:
    """A round's alarm's place: its rule's, then its own among the rule's."""
    return entry[0], entry[1]


@compiled
def _keep_latest(last_ts: IntArray, local: IntArray, ts: IntArray, keep: BoolArray) -> int:
    """Which rows (in round order) are not older than their device's latest, which they
    become; how many. Late data never rewinds state."""
    kept = 0
    for i in range(local.size):
        keep[i] = ts[i] >= last_ts[local[i]]
        if keep[i]:
            last_ts[local[i]] = ts[i]
            kept += 1
    return kept


def _smoke_raised(alarm: Alarm) -> bool:
    return alarm.kind is AlarmKind.SMOKE_ALARM and alarm.state is AlarmState.RAISE


def fuse_smoke_alarms(fusion: FireFusion, index: DeviceIndex, alarms: Sequence[Alarm]
                      ) -> list[Alarm]:
    """Feed the smoke alarms raised among ``alarms`` to fire fusion; returns the fires."""
    fires: list[Alarm] = []
    for alarm in alarms:
        if _smoke_raised(alarm):
            local = int(index.local[index.slot[alarm.device_id]])
            fires += fusion.smoke_indicated(local, alarm.ts_ms)
    return fires


def metric_rows(metrics: Sequence[str], values: Sequence[Mapping[str, float]]) -> FloatArray:
    """One row per message, one column per metric; NaN where a message lacks the metric."""
    try:  # the common case, every metric present, in C
        rows = list(map(itemgetter(*metrics), values))
    except KeyError:
        nan = float("nan")
        rows = [[v.get(m, nan) for m in metrics] for v in values]
    return np.array(rows, np.float64).reshape(len(values), len(metrics))


def column_rows(metrics: Sequence[str], columns: Mapping[str, FloatArray],
                rows: IntArray | None, size: int) -> FloatArray:
    """``metric_rows`` of ``rows`` of a batch given as columns (metric -> one value per row);
    ``rows`` None: every row of the batch (``size``)."""
    out = np.empty((size if rows is None else rows.size, len(metrics)), np.float64)
    for j, metric in enumerate(metrics):
        column = columns.get(metric)
        if column is None:
            out[:, j] = np.nan
        else:
            out[:, j] = column if rows is None else column[rows]
    return out
